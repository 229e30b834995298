// The DateTime scalar: what it accepts and how it normalises, and that an impossible calendar value
// is refused naming the value instead of being shifted to another instant (2030-02-30 → 2030-03-02).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphQLError, Kind } from 'graphql';
import { DateTimeScalar } from '../src/graphql/date-time.ts';

const parseValue = (value: unknown): string => (DateTimeScalar.parseValue(value) as Date).toISOString();
const parseLiteral = (value: string): string => (DateTimeScalar.parseLiteral({ kind: Kind.STRING, value }) as Date).toISOString();

describe('DateTime scalar', () => {
  const accepted: [string, string][] = [
    ['2030-01-01T12:00:00Z', '2030-01-01T12:00:00.000Z'],
    ['2030-01-01T12:00Z', '2030-01-01T12:00:00.000Z'],
    ['2030-01-01T13:00:00+01:00', '2030-01-01T12:00:00.000Z'],
    ['2030-01-01T00:30:00-02:30', '2030-01-01T03:00:00.000Z'],
    ['2030-12-31T23:59:59.999+23:59', '2030-12-31T00:00:59.999Z'],
    ['2030-01-01T12:00:00.123456Z', '2030-01-01T12:00:00.123Z'],
    ['2030-01-01T12:00:00.5Z', '2030-01-01T12:00:00.500Z'],
    ['2030-01-01t12:00:00z', '2030-01-01T12:00:00.000Z'],
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['2000-02-29T23:59:59Z', '2000-02-29T23:59:59.000Z'],
    ['0099-06-15T00:00:00Z', '0099-06-15T00:00:00.000Z'],
  ];
  for (const [input, output] of accepted) {
    it(`accepts ${input} as ${output}`, () => {
      assert.equal(parseValue(input), output);
      assert.equal(parseLiteral(input), output);
      assert.equal(DateTimeScalar.serialize(input), output);
    });
  }

  const refused: [string, RegExp][] = [
    ['2030-02-30T00:00:00Z', /^DateTime "2030-02-30T00:00:00Z" is not a real date-time: 2030-02 has no day 30$/],
    ['2029-02-29T00:00:00Z', /2029-02 has no day 29/],
    ['1900-02-29T00:00:00Z', /1900-02 has no day 29/],
    ['2030-04-31T00:00:00Z', /2030-04 has no day 31/],
    ['2030-01-00T00:00:00Z', /2030-01 has no day 00/],
    ['2030-13-01T00:00:00Z', /"2030-13-01T00:00:00Z" is not a real date-time: there is no month 13/],
    ['2030-00-10T00:00:00Z', /there is no month 00/],
    ['2030-01-01T25:00:00Z', /"2030-01-01T25:00:00Z" .*there is no hour 25/],
    ['2030-01-01T24:00:00Z', /there is no hour 24/],
    ['2030-01-01T12:60:00Z', /there is no minute 60/],
    ['2030-06-30T23:59:60Z', /"2030-06-30T23:59:60Z" .*leap seconds \(:60\) are not accepted/],
    ['2030-01-01T12:00:61Z', /there is no second 61/],
    ['2030-01-01T12:00:00+24:00', /the offset must be within ±23:59, got \+24:00/],
    ['2030-01-01T12:00:00-01:60', /got -01:60/],
    ['2030-01-01', /must be an RFC 3339 date-time with a zone .*got "2030-01-01"/],
    ['2030-01-01T12:00:00', /with a zone .*got "2030-01-01T12:00:00"/],
    ['2030-01-01 12:00:00Z', /got "2030-01-01 12:00:00Z"/],
    ['', /got ""/],
  ];
  for (const [input, message] of refused) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      for (const parse of [parseValue, parseLiteral, (value: string) => DateTimeScalar.serialize(value)]) {
        assert.throws(
          () => parse(input),
          (error: unknown) => error instanceof GraphQLError && message.test(error.message),
        );
      }
    });
  }

  it('refuses what is not a string, and an invalid Date on output', () => {
    assert.throws(() => parseValue(1_900_000_000_000), /must be an RFC 3339 date-time string, got 1900000000000/);
    assert.throws(() => DateTimeScalar.parseLiteral({ kind: Kind.INT, value: '1' }), /must be a string literal, got IntValue/);
    assert.throws(() => DateTimeScalar.serialize(new Date(Number.NaN)), /invalid Date/);
    assert.equal(DateTimeScalar.serialize(new Date('2030-01-01T12:00:00Z')), '2030-01-01T12:00:00.000Z');
  });
});
