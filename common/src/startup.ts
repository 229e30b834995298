// How a process says it cannot start. A wrong setting (ConfigError), a dependency that does not
// answer at start (DependencyError) or a listener that cannot bind its HOST/PORT (ListenError: the
// port is taken or privileged, the host is not this machine's) is the operator's to fix, not a bug:
// they get one line naming the variable and what is wrong, the way `kubectl logs` of a
// crash-looping pod should read. Any other error is unexpected and keeps its stack.
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

/** The listen failures an operator fixes with a setting; any other one is unexpected. */
export type ListenProblem = 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EACCES' | 'ENOTFOUND';

/**
 * A listener could not bind for a reason a setting causes, so it reads as one line naming that
 * setting instead of a stack trace:
 * - EADDRINUSE: another process (or a second copy of this one) holds the port `portVariable` chose:
 *   `PORT=4001: address 127.0.0.1:4001 already in use`;
 * - EADDRNOTAVAIL: HOST is not an address of this machine:
 *   `HOST=10.255.255.1: cannot listen on 10.255.255.1:4001 (PORT=4001): not an address of this machine`;
 * - EACCES: the port needs a privilege the process lacks (below 1024 by default):
 *   `PORT=80: permission denied listening on 0.0.0.0:80 (a port below 1024 needs root or CAP_NET_BIND_SERVICE)`;
 * - ENOTFOUND: HOST is a name DNS does not know:
 *   `HOST=api.internal: cannot listen on api.internal:4001 (PORT=4001): the name does not resolve`.
 * `variable` is the setting to change: HOST for EADDRNOTAVAIL and ENOTFOUND, the port's for the others.
 */
export class ListenError extends Error {
  readonly variable: string;
  readonly problem: ListenProblem;
  constructor(problem: ListenProblem, portVariable: string, host: string, port: number, options?: { cause?: unknown }) {
    super(listenMessage(problem, portVariable, host, port), options);
    this.name = 'ListenError';
    this.problem = problem;
    this.variable = problem === 'EADDRNOTAVAIL' || problem === 'ENOTFOUND' ? 'HOST' : portVariable;
  }
}

function listenMessage(problem: ListenProblem, portVariable: string, host: string, port: number): string {
  const address = hostPort(host, port);
  switch (problem) {
    case 'EADDRINUSE':
      return `${portVariable}=${port}: address ${address} already in use`;
    case 'EADDRNOTAVAIL':
      return `HOST=${host}: cannot listen on ${address} (${portVariable}=${port}): not an address of this machine`;
    case 'ENOTFOUND':
      return `HOST=${host}: cannot listen on ${address} (${portVariable}=${port}): the name does not resolve`;
    case 'EACCES': {
      // The usual cause; net.ipv4.ip_unprivileged_port_start moves the line (1024 unless changed).
      const hint = port > 0 && port < 1024 ? ' (a port below 1024 needs root or CAP_NET_BIND_SERVICE)' : '';
      return `${portVariable}=${port}: permission denied listening on ${address}${hint}`;
    }
  }
}

const LISTEN_PROBLEMS: readonly ListenProblem[] = ['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'ENOTFOUND'];
/** grpc-js does not pass the resolver's code on: an unresolvable HOST reads like this. */
const GRPC_NAME_NOT_RESOLVED = /^Name resolution failed for target /;

/**
 * A ListenError for `error` when it is one of the ListenProblems, else `error` unchanged. Node's
 * listeners say which with `code`; grpc-js only in the message of bindAsync's error
 * (`No address added out of total 1 resolved errors: [listen EADDRNOTAVAIL: …]`).
 */
export function explainListenError(error: unknown, portVariable: string, host: string, port: number): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const problem =
    LISTEN_PROBLEMS.find((candidate) => code === candidate || new RegExp(`\\b${candidate}\\b`).test(error.message)) ??
    (code === 'EAI_AGAIN' || GRPC_NAME_NOT_RESOLVED.test(error.message) ? 'ENOTFOUND' : undefined);
  return problem ? new ListenError(problem, portVariable, host, port, { cause: error }) : error;
}

type OperatorError = ConfigError | DependencyError | ListenError;

function isOperatorError(error: unknown): error is OperatorError {
  return error instanceof ConfigError || error instanceof DependencyError || error instanceof ListenError;
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
