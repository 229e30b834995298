// Prometheus metrics per GraphQL operation, recorded by an Apollo Server plugin, plus error
// logging with the request id (the client sees a masked message; the log keeps the original).
//   votemesh_gateway_operations_total{operation_type, operation_name, client_name, outcome}
//   votemesh_gateway_operation_duration_seconds{operation_type, operation_name, client_name}
// (names, help and buckets from common/src/telemetry/names.ts). Every label value comes from a
// bounded set, because every one of them starts out as something the client sent:
//   - outcome: `ok`, or the first error's code when it is in the votemesh registry (which lists the
//     Apollo request codes too), else INTERNAL; also for requests refused before execution
//     (TOKEN_EXPIRED, RATE_LIMITED, …, with operation_type "unknown");
//   - operation_name: the resolved operation's own name, pinned to its document (operation-labels.ts);
//   - client_name: the apollographql-client-name header when it is one of `clientNames`
//     (METRICS_CLIENT_NAMES), "(other)" when it is not, "" when absent or nothing is configured.
import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Histogram, type Registry } from 'prom-client';
import { isErrorCode } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import { METRICS } from '@votemesh/common/telemetry/names';
import type { GatewayContext } from '../gateway-context.ts';
import { apolloCodelessRefusal } from './format-error.ts';
import { ANONYMOUS_OPERATION, createOperationLabels, MISMATCHED_DOCUMENT, OVERFLOW_OPERATION, type OperationLabelOptions } from './operation-labels.ts';

export interface OperationMetricsOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  /** How operation names become label values (budget, window); see operation-labels.ts. */
  readonly operationLabels?: Omit<OperationLabelOptions, 'onForget'>;
  /**
   * apollographql-client-name values kept as the `client_name` label (METRICS_CLIENT_NAMES). The
   * header is not authenticated: listing a name bounds the label's values, not who may claim it.
   * @default [] (no client_name label values)
   */
  readonly clientNames?: readonly string[];
}

export const CLIENT_NAME_HEADER = 'apollographql-client-name';
export const OTHER_CLIENT = '(other)';

export interface OperationMetrics {
  readonly plugin: ApolloServerPlugin<GatewayContext>;
  /** Counts a request refused (with `code`) before it reached GraphQL execution. */
  recordRejected(code: string, seconds: number): void;
}

export function createOperationMetrics(options: OperationMetricsOptions): OperationMetrics {
  const operations = new Counter({
    name: METRICS.gatewayOperationsTotal.name,
    help: METRICS.gatewayOperationsTotal.help,
    labelNames: METRICS.gatewayOperationsTotal.labelNames,
    registers: [options.registry],
  });
  const duration = new Histogram({
    name: METRICS.gatewayOperationDurationSeconds.name,
    help: METRICS.gatewayOperationDurationSeconds.help,
    labelNames: METRICS.gatewayOperationDurationSeconds.labelNames,
    buckets: [...METRICS.gatewayOperationDurationSeconds.buckets],
    registers: [options.registry],
  });
  // The label sets each pinned name has used, so a forgotten name's series go with it. A label
  // value that is not a reserved one is a name label() has just pinned: record() runs right after it.
  const reserved = new Set([ANONYMOUS_OPERATION, MISMATCHED_DOCUMENT, OVERFLOW_OPERATION]);
  const seriesOf = new Map<string, Map<string, OperationSeries>>();
  const names = createOperationLabels({
    ...options.operationLabels,
    onForget(name) {
      for (const series of seriesOf.get(name)?.values() ?? []) {
        operations.remove(series);
        const { outcome: _outcome, ...durationLabels } = series;
        duration.remove(durationLabels);
      }
      seriesOf.delete(name);
    },
  });
  const clientNames = new Set(options.clientNames ?? []);
  const clientLabel = (header: string | undefined): string => {
    if (clientNames.size === 0 || header === undefined || header === '') return '';
    return clientNames.has(header) ? header : OTHER_CLIENT;
  };
  const record = (series: OperationSeries, seconds: number): void => {
    operations.inc(series);
    duration.observe({ operation_type: series.operation_type, operation_name: series.operation_name, client_name: series.client_name }, seconds);
    if (!reserved.has(series.operation_name)) {
      const key = `${series.operation_type}\n${series.client_name}\n${series.outcome}`;
      let known = seriesOf.get(series.operation_name);
      if (!known) seriesOf.set(series.operation_name, (known = new Map()));
      if (!known.has(key)) known.set(key, series);
    }
  };

  return {
    recordRejected(code, seconds) {
      record({ operation_type: 'unknown', operation_name: '', client_name: '', outcome: outcomeOf(code) }, seconds);
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
          async willSendResponse({ request, response, operation, queryHash, errors }) {
            const first = response.body.kind === 'single' ? response.body.singleResult.errors?.[0] : errors?.[0];
            const outcome = first === undefined ? 'ok' : outcomeOf(first.extensions?.['code']);
            const seconds = (performance.now() - started) / 1000;
            // The name in the document, never the request's `operationName`: that one is any string
            // the client sent, even when no operation of that name (or no document) exists.
            record(
              {
                operation_type: operation?.operation ?? 'unknown',
                operation_name: names.label(operation?.name?.value, queryHash),
                client_name: clientLabel(request.http?.headers.get(CLIENT_NAME_HEADER)),
                outcome,
              },
              seconds,
            );
          },
        };
      },
    },
  };
}

interface OperationSeries {
  operation_type: string;
  operation_name: string;
  client_name: string;
  outcome: string;
}

/**
 * An error code as a label value: codes of the votemesh registry only, anything else is INTERNAL, so
 * a subgraph inventing codes (or echoing input into one) cannot add series.
 */
function outcomeOf(code: unknown): string {
  return isErrorCode(code) ? code : 'INTERNAL';
}
