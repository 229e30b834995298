// The `DateTime` scalar: an ISO-8601 string on the wire, a Date inside. One definition shared by
// every subgraph that declares `scalar DateTime`, so they always agree.
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'string') {
    // Full ISO-8601 date-time with an explicit offset; a bare date or local time is ambiguous.
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) {
      throw new GraphQLError(`DateTime must be an ISO-8601 date-time with a zone (e.g. 2030-01-01T12:00:00Z), got "${value.slice(0, 64)}"`);
    }
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new GraphQLError(`DateTime must be an ISO-8601 date-time string, got ${JSON.stringify(value)?.slice(0, 64)}`);
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An instant as an ISO-8601 string with a zone, e.g. 2030-01-01T12:00:00.000Z.',
  serialize: (value) => toDate(value).toISOString(),
  parseValue: (value) => toDate(value),
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string literal');
    return toDate(ast.value);
  },
});
