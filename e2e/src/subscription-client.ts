// One subscription test client over either transport the gateway offers: graphql-ws
// (graphql-transport-ws) or Server-Sent Events (graphql-sse). It queues what arrives and lets a test
// wait for a predicate with a deadline, so one scenario runs unchanged over both.
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { waitFor } from '@votemesh/common/testing/wait-for';

export type Transport = 'ws' | 'sse';

export interface SubscriptionEvent<TData> {
  readonly data?: TData | null;
  readonly errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

export interface TestSubscription<TData> extends AsyncDisposable {
  readonly events: SubscriptionEvent<TData>[];
  /** Set when the server completed the subscription. */
  readonly completed: () => boolean;
  /** Set when the transport reported an error (closed socket, HTTP error, GraphQL errors). */
  readonly error: () => unknown;
  waitForEvent(predicate: (event: SubscriptionEvent<TData>) => boolean, timeoutMs?: number): Promise<SubscriptionEvent<TData>>;
}

export interface SubscriptionClientOptions {
  readonly gatewayUrl: string;
  readonly transport: Transport;
  readonly token?: string;
}

export interface SubscriptionClient extends AsyncDisposable {
  subscribe<TData = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): TestSubscription<TData>;
}

export function createSubscriptionClient(options: SubscriptionClientOptions): SubscriptionClient {
  const url = `${options.gatewayUrl}/graphql`;
  let ws: WsClient | undefined;
  const disposers: (() => void)[] = [];
  const sse =
    options.transport === 'sse'
      ? createSseClient({
          url,
          singleConnection: false,
          retryAttempts: 0,
          headers: () => (options.token ? { authorization: `Bearer ${options.token}` } : ({} as Record<string, string>)),
        })
      : undefined;
  if (options.transport === 'ws') {
    ws = createWsClient({
      url: url.replace(/^http/, 'ws'),
      retryAttempts: 0,
      lazy: true,
      connectionParams: options.token ? { authorization: `Bearer ${options.token}` } : {},
    });
  }

  return {
    subscribe<TData>(query: string, variables: Record<string, unknown> = {}): TestSubscription<TData> {
      const events: SubscriptionEvent<TData>[] = [];
      let completed = false;
      let failure: unknown;
      const sink = {
        next: (value: unknown) => void events.push(value as SubscriptionEvent<TData>),
        error: (error: unknown) => {
          failure = error;
        },
        complete: () => {
          completed = true;
        },
      };
      const dispose = ws ? ws.subscribe({ query, variables }, sink) : (sse?.subscribe({ query, variables }, sink) ?? (() => undefined));
      disposers.push(dispose);
      return {
        events,
        completed: () => completed,
        error: () => failure,
        async waitForEvent(predicate: (event: SubscriptionEvent<TData>) => boolean, timeoutMs = 20_000): Promise<SubscriptionEvent<TData>> {
          return waitFor(
            () => {
              const found = events.find(predicate);
              if (found) return found;
              if (failure !== undefined || completed)
                throw new Error(`subscription ended before the event arrived: ${describeFailure(failure)}; got ${JSON.stringify(events.slice(-3))}`);
              return undefined;
            },
            { timeoutMs, what: 'a matching subscription event' },
          );
        },
        async [Symbol.asyncDispose]() {
          dispose();
        },
      };
    },
    async [Symbol.asyncDispose]() {
      for (const dispose of disposers.splice(0)) dispose();
      await ws?.dispose();
      sse?.dispose();
    },
  };
}

function describeFailure(failure: unknown): string {
  if (failure === undefined) return 'completed';
  if (failure instanceof Error) return failure.message;
  if (Array.isArray(failure)) return JSON.stringify(failure);
  if (typeof failure === 'object' && failure && 'code' in failure)
    return `close ${String((failure as { code: unknown }).code)} ${String((failure as { reason?: unknown }).reason ?? '')}`;
  return String(failure);
}

/** Sums a Prometheus metric (all label sets) from a /metrics page. */
export async function scrapeMetric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.eE+-]+)$`).exec(line);
    if (match) total += Number(match[2]);
  }
  return total;
}
