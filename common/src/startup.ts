// How a process says it cannot start. A wrong setting (ConfigError), a dependency that does not
// answer at start (DependencyError) or a port another process holds (AddressInUseError) is the
// operator's to fix, not a bug: they get one line naming
// the variable and what is wrong, the way `kubectl logs` of a crash-looping pod should read. Any
// other error is unexpected and keeps its stack.
import { ConfigError } from './config.ts';

/** `host:port`, an IPv6 host in brackets (as listeners and addresses are written). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A dependency named by a setting (REDIS_URL, DATABASE_URL…) did not answer when the process started. */
export class DependencyError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string, options?: { cause?: unknown }) {
    super(`Cannot start: ${variable} ${problem}`, options);
    this.name = 'DependencyError';
    this.variable = variable;
  }
}

/**
 * A listener could not bind because something else holds its address: another process (or a second
 * copy of this one) on the port `variable` chose. The operator's to fix, not a bug, so it reads
 * `PORT=4001: address 127.0.0.1:4001 already in use` instead of a stack trace.
 */
export class AddressInUseError extends Error {
  readonly variable: string;
  constructor(variable: string, host: string, port: number, options?: { cause?: unknown }) {
    super(`${variable}=${port}: address ${hostPort(host, port)} already in use`, options);
    this.name = 'AddressInUseError';
    this.variable = variable;
  }
}

/**
 * An AddressInUseError for `error` when it says the address was taken, else `error` unchanged.
 * Node's listeners say so with `code: 'EADDRINUSE'`; grpc-js only in the message of bindAsync's error.
 */
export function explainListenError(error: unknown, variable: string, host: string, port: number): unknown {
  const inUse = error instanceof Error && ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || /\bEADDRINUSE\b/.test(error.message));
  return inUse ? new AddressInUseError(variable, host, port, { cause: error }) : error;
}

type OperatorError = ConfigError | DependencyError | AddressInUseError;

function isOperatorError(error: unknown): error is OperatorError {
  return error instanceof ConfigError || error instanceof DependencyError || error instanceof AddressInUseError;
}

/** The one line for an error the operator can fix, or undefined for an unexpected one. */
export function operatorMessage(error: unknown): string | undefined {
  return isOperatorError(error) ? error.message : undefined;
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
  if (isOperatorError(error)) logger.error({ variable: error.variable }, `${service} failed to start: ${error.message}`);
  else logger.error({ err: error }, `${service} failed to start`);
}
