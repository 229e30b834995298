// The `DateTime` scalar: an RFC 3339 string on the wire, a Date inside. One definition shared by
// every subgraph that declares `scalar DateTime`, so they always agree; each subgraph's SDL carries
// DATE_TIME_DESCRIPTION word for word (a gateway test checks), since the gateway's API schema, what
// clients introspect, is composed from the SDL alone.
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

export const DATE_TIME_DESCRIPTION = [
  'An instant as an RFC 3339 date-time string. Results are always UTC with milliseconds:',
  '2030-01-01T12:00:00.000Z. Arguments need a date, a time and a zone, either Z or an offset',
  '±hh:mm that is converted to UTC (2030-01-01T13:00:00+01:00 is 2030-01-01T12:00:00.000Z);',
  'seconds and a fraction of a second are optional, digits past milliseconds are dropped. A value',
  'without a zone, or with a calendar field that does not exist (2030-02-30, February 29 outside',
  'a leap year, month 13, hour 24, minute 60, the leap second :60, offset +24:00) is refused,',
  'never shifted to another instant.',
].join('\n');

// Date, time with optional seconds and fraction, zone. Lower-case t/z are allowed (RFC 3339 §5.6).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(?:Z|([+-])(\d{2}):(\d{2}))$/i;

interface Fields {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
  /** The zone's offset east of UTC (0 for Z). */
  readonly offsetMinutes: number;
}

function shown(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}

function invalid(value: string, problem: string): GraphQLError {
  return new GraphQLError(`DateTime "${shown(value)}" is not a real date-time: ${problem}`);
}

/** Days in `month` (1-12) of `year`, leap years included. */
function daysIn(year: number, month: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, 0);
  return date.getUTCDate();
}

function readFields(value: string): Fields {
  const match = DATE_TIME.exec(value);
  if (!match) {
    throw new GraphQLError(`DateTime must be an RFC 3339 date-time with a zone (e.g. 2030-01-01T12:00:00Z), got "${shown(value)}"`);
  }
  const [, year = '', month = '', day = '', hour = '', minute = '', second = '00', fraction = '', sign, offsetHours = '00', offsetMinutes = '00'] = match;
  const fields: Fields = {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second),
    millisecond: Number(fraction.slice(1, 4).padEnd(3, '0')),
    offsetMinutes: (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)),
  };
  if (fields.month < 1 || fields.month > 12) throw invalid(value, `there is no month ${month}`);
  if (fields.day < 1 || fields.day > daysIn(fields.year, fields.month)) throw invalid(value, `${year}-${month} has no day ${day}`);
  if (fields.hour > 23) throw invalid(value, `there is no hour ${hour} (00-23)`);
  if (fields.minute > 59) throw invalid(value, `there is no minute ${minute} (00-59)`);
  if (fields.second === 60) throw invalid(value, 'leap seconds (:60) are not accepted');
  if (fields.second > 59) throw invalid(value, `there is no second ${second} (00-59)`);
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)
    throw invalid(value, `the offset must be within ±23:59, got ${sign}${offsetHours}:${offsetMinutes}`);
  return fields;
}

/**
 * Parses a date-time string. Its calendar fields must survive the round trip through a Date
 * unchanged: `new Date()` turns 2030-02-30 into 2030-03-02 and 24:00 into the next day, and a
 * client that sent an impossible value has a bug worth hearing about, not a different instant.
 */
export function parseDateTime(value: string): Date {
  const fields = readFields(value);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const wallClock = new Date(0);
  wallClock.setUTCFullYear(fields.year, fields.month - 1, fields.day);
  wallClock.setUTCHours(fields.hour, fields.minute, fields.second, fields.millisecond);
  // The checks above should leave nothing to shift; this is the rule itself, kept as the last word.
  const back = [
    wallClock.getUTCFullYear(),
    wallClock.getUTCMonth() + 1,
    wallClock.getUTCDate(),
    wallClock.getUTCHours(),
    wallClock.getUTCMinutes(),
    wallClock.getUTCSeconds(),
  ];
  if (back.join() !== [fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second].join()) {
    throw invalid(value, `it would read as ${wallClock.toISOString()}`);
  }
  return new Date(wallClock.getTime() - fields.offsetMinutes * 60_000);
}

function toDate(value: unknown): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new GraphQLError('DateTime cannot represent an invalid Date');
    return value;
  }
  if (typeof value === 'string') return parseDateTime(value);
  throw new GraphQLError(`DateTime must be an RFC 3339 date-time string, got ${JSON.stringify(value)?.slice(0, 64)}`);
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: DATE_TIME_DESCRIPTION,
  serialize: (value) => toDate(value).toISOString(),
  parseValue: (value) => toDate(value),
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError(`DateTime must be a string literal, got ${ast.kind}`);
    return toDate(ast.value);
  },
});
