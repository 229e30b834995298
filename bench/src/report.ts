// What every benchmark prints first (the command and the machine) and the small formatting and
// statistics helpers its tables use. Percentiles are nearest-rank over every sample: no histogram
// buckets, no sampling, so p99 of 5,000 requests is the 50th-slowest one.
import { cpus, loadavg, release, totalmem } from 'node:os';
import { readMachineBusySeconds } from './proc.ts';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly kernel: string;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${process.platform} ${release()}`,
  };
}

/** Prints the title, command and machine, and how busy the box already is (it may be shared). */
export async function printHeader(title: string): Promise<void> {
  const machine = describeMachine();
  const command = `node ${process.execArgv.join(' ')} ${process.argv
    .slice(1)
    .map((arg) => arg.replace(`${process.cwd()}/`, ''))
    .join(' ')}`.replace(/\s+/g, ' ');
  console.log(`# ${title}`);
  console.log(
    `command: ${process.env['npm_lifecycle_event'] ? `npm run ${process.env['npm_lifecycle_event']} -- ${process.argv.slice(2).join(' ')}`.trim() : command}`,
  );
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, node ${machine.node}, ${machine.kernel}`);
  const busyBefore = readMachineBusySeconds();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busy = readMachineBusySeconds() - busyBefore;
  console.log(
    `started: ${new Date().toISOString()}; before the run the machine was busy ${busy.toFixed(2)} of ${machine.cores} cores (1 s sample), load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `speed probe: ${speedProbeMs().toFixed(0)} ms for ${formatNumber(SPEED_PROBE_ROUNDS)} JSON round trips of a vote entry on one core (lower is faster)\n`,
  );
}

const SPEED_PROBE_ROUNDS = 200_000;

/**
 * The same VM type has been seen ~3x slower on one day than on another (host contention that the
 * guest's steal counter does not show). A fixed single-core workload of the kind the services do,
 * timed before every run, lets runs from different days be compared, or at least told apart.
 */
function speedProbeMs(): number {
  const entry = {
    receiptId: '5f0c7c1e-8c8e-4a4b-9a4e-0c1d2e3f4a5b',
    pollId: '0b8e7c6d-5a4b-4c3d-8e2f-1a0b9c8d7e6f',
    optionId: '9e8d7c6b-5a49-4382-9716-05f4e3d2c1b0',
    voterId: 'voter:3c2b1a09-8f7e-4d6c-9b5a-493827160504',
    castAt: '2026-11-25T04:00:00.000Z',
  };
  const started = performance.now();
  let length = 0;
  for (let round = 0; round < SPEED_PROBE_ROUNDS; round += 1) length += (JSON.parse(JSON.stringify({ ...entry, round })) as { round: number }).round;
  if (length < 0) throw new Error('unreachable'); // keeps the loop's result observable
  return performance.now() - started;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentiles over all samples (milliseconds in, milliseconds out). */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  const count = sorted.length;
  if (count === 0) return { count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const at = (p: number): number => sorted[Math.min(count - 1, Math.max(0, Math.ceil(p * count) - 1))] ?? Number.NaN;
  let sum = 0;
  for (const value of sorted) sum += value;
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[count - 1] ?? Number.NaN, mean: sum / count };
}

/** A Markdown table (it reads fine in a terminal too). */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]): string => `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  return [line(headers), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function verdict(met: boolean): string {
  return met ? 'MET' : 'MISSED';
}

/** `--name=value` / `--name value` flags with defaults; unknown flags fail loudly. */
export function readFlags<T extends Record<string, string>>(defaults: T, argv: readonly string[] = process.argv.slice(2)): T {
  const values: Record<string, string> = { ...defaults };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match || !((match[1] as string) in defaults))
      throw new Error(
        `unknown argument ${arg}; known: ${Object.keys(defaults)
          .map((name) => `--${name}`)
          .join(' ')}`,
      );
    const value = match[2] ?? argv[(i += 1)];
    if (value === undefined) throw new Error(`--${match[1]} needs a value`);
    values[match[1] as string] = value;
  }
  return values as T;
}

export function positiveInt(value: string, name: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return parsed;
}
