// Prometheus metrics per GraphQL operation, recorded by an Apollo Server plugin, plus error
// logging with the request id (the client sees a masked message; the log keeps the original).
//   votemesh_gateway_operations_total{operation_type, operation_name, outcome}
//   votemesh_gateway_operation_duration_seconds{operation_type, operation_name}
// (names, help and buckets from common/src/telemetry/names.ts). outcome is `ok` or the error code
// of the first error (votemesh registry or Apollo request codes), also for requests refused before
// execution (TOKEN_EXPIRED, RATE_LIMITED, …, with operation_type "unknown"). Operation names are
// client-chosen, so at most `maxOperationNames` distinct names become labels; the rest are "other".
import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '@votemesh/common/logger';
import { METRICS } from '@votemesh/common/telemetry/names';
import type { GatewayContext } from '../gateway-context.ts';
import { apolloCodelessRefusal } from './format-error.ts';

export interface OperationMetricsOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  /** Distinct operation names kept as label values. @default 200 */
  readonly maxOperationNames?: number;
}

export interface OperationMetrics {
  readonly plugin: ApolloServerPlugin<GatewayContext>;
  /** Counts a request refused (with `code`) before it reached GraphQL execution. */
  recordRejected(code: string, seconds: number): void;
}

const NAME_PATTERN = /^[_A-Za-z][_0-9A-Za-z]{0,99}$/;
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

export function createOperationMetrics(options: OperationMetricsOptions): OperationMetrics {
  const operations = new Counter({
    name: METRICS.gatewayOperationsTotal.name,
    help: METRICS.gatewayOperationsTotal.help,
    labelNames: ['operation_type', 'operation_name', 'outcome'] as const,
    registers: [options.registry],
  });
  const duration = new Histogram({
    name: METRICS.gatewayOperationDurationSeconds.name,
    help: METRICS.gatewayOperationDurationSeconds.help,
    labelNames: ['operation_type', 'operation_name'] as const,
    buckets: [...METRICS.gatewayOperationDurationSeconds.buckets],
    registers: [options.registry],
  });
  const knownNames = new Set<string>();
  const maxNames = options.maxOperationNames ?? 200;
  const nameLabel = (name: string | undefined): string => {
    if (!name) return '';
    if (!NAME_PATTERN.test(name)) return 'other';
    if (knownNames.has(name)) return name;
    if (knownNames.size >= maxNames) return 'other';
    knownNames.add(name);
    return name;
  };
  const record = (operationType: string, operationName: string, outcome: string, seconds: number): void => {
    operations.inc({ operation_type: operationType, operation_name: operationName, outcome });
    duration.observe({ operation_type: operationType, operation_name: operationName }, seconds);
  };

  return {
    recordRejected(code, seconds) {
      record('unknown', '', outcomeOf(code), seconds);
    },
    plugin: {
      async requestDidStart() {
        const started = performance.now();
        return {
          async didEncounterErrors({ errors, contextValue }) {
            for (const error of errors) {
              const code = error.extensions['code'];
              // Apollo's codeless 4xx refusals are the client's mistake (format-error.ts answers them BAD_REQUEST).
              const internal =
                (typeof code !== 'string' || code === 'INTERNAL' || code === 'INTERNAL_SERVER_ERROR') && apolloCodelessRefusal(error) === undefined;
              const fields = {
                requestId: contextValue.requestId,
                code,
                serviceName: error.extensions['serviceName'],
                path: error.path,
                err: error.originalError ?? error,
              };
              if (internal) options.logger.error(fields, error.message);
              else options.logger.debug(fields, error.message);
            }
          },
          async willSendResponse({ response, operation, operationName, errors }) {
            const first = response.body.kind === 'single' ? response.body.singleResult.errors?.[0] : errors?.[0];
            const outcome = first === undefined ? 'ok' : outcomeOf(first.extensions?.['code']);
            const seconds = (performance.now() - started) / 1000;
            record(operation?.operation ?? 'unknown', nameLabel(operationName ?? operation?.name?.value), outcome, seconds);
          },
        };
      },
    },
  };
}

/** An error code as a label value; anything that is not a SCREAMING_SNAKE code counts as INTERNAL. */
function outcomeOf(code: unknown): string {
  return typeof code === 'string' && CODE_PATTERN.test(code) ? code : 'INTERNAL';
}
