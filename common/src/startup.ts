// How a process says it cannot start. A wrong setting (ConfigError) or a dependency that does not
// answer at start (DependencyError) is the operator's to fix, not a bug: they get one line naming
// the variable and what is wrong, the way `kubectl logs` of a crash-looping pod should read. Any
// other error is unexpected and keeps its stack.
import { ConfigError } from './config.ts';

/** A dependency named by a setting (REDIS_URL, DATABASE_URL…) did not answer when the process started. */
export class DependencyError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string, options?: { cause?: unknown }) {
    super(`Cannot start: ${variable} ${problem}`, options);
    this.name = 'DependencyError';
    this.variable = variable;
  }
}

/** The one line for an error the operator can fix, or undefined for an unexpected one. */
export function operatorMessage(error: unknown): string | undefined {
  return error instanceof ConfigError || error instanceof DependencyError ? error.message : undefined;
}

/** What failStartup needs of `process` (passed in: only composition roots touch it). */
export interface ExitTarget {
  readonly stderr: { write(text: string): unknown };
  exit(code: number): never;
}

/**
 * Ends a process that failed before it has a logger (reading its configuration, starting
 * telemetry): the operator's one line, or the stack of an unexpected error, on stderr; exit 1.
 */
export function failStartup(error: unknown, target: ExitTarget): never {
  const line = operatorMessage(error) ?? (error instanceof Error ? (error.stack ?? error.message) : String(error));
  target.stderr.write(`${line}\n`);
  return target.exit(1);
}

export interface StartupLogger {
  error(obj: object, msg: string): void;
}

/** Logs why a process with a logger failed to start: one clean line, or the error with its stack. */
export function logStartupFailure(logger: StartupLogger, service: string, error: unknown): void {
  if (error instanceof ConfigError || error instanceof DependencyError)
    logger.error({ variable: error.variable }, `${service} failed to start: ${error.message}`);
  else logger.error({ err: error }, `${service} failed to start`);
}
