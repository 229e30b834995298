// A logger whose lines tests can read: the service's own pino logger (createLogger), writing to
// memory instead of stdout, each line parsed as it is written.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../logger.ts';

/** One parsed log line: pino's `level` number, `msg`, and the line's own fields. */
export type LogLine = { readonly level: number; readonly msg: string } & Readonly<Record<string, unknown>>;

export interface CapturedLogs {
  readonly logger: Logger;
  /** Every line so far, in order; the array grows as the logger writes. */
  readonly lines: LogLine[];
}

export function captureLogs(service: string, level: string): CapturedLogs {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { lines, logger: createLogger({ service, level, destination }) };
}
