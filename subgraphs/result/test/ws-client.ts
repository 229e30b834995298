// A graphql-ws test client that queues what it receives and waits on conditions with a deadline.
import { waitFor } from '@votemesh/common/testing/wait-for';
import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface TestSubscription<T> {
  readonly events: FormattedExecutionResult<T>[];
  readonly completed: boolean;
  waitForEvent(predicate: (event: FormattedExecutionResult<T>) => boolean, what: string, timeoutMs?: number): Promise<FormattedExecutionResult<T>>;
  unsubscribe(): void;
}

export interface TestWsClient extends AsyncDisposable {
  subscribe<T>(query: string, variables: Record<string, unknown>): TestSubscription<T>;
}

function subscribeOn<T>(client: Client, query: string, variables: Record<string, unknown>): TestSubscription<T> {
  const events: FormattedExecutionResult<T>[] = [];
  let completed = false;
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (event) => void events.push(event as FormattedExecutionResult<T>),
      error: (reason) => {
        events.push({ errors: [{ message: `socket error: ${reason instanceof Error ? reason.message : JSON.stringify(reason)}` }] });
        completed = true;
      },
      complete: () => {
        completed = true;
      },
    },
  );
  return {
    events,
    get completed() {
      return completed;
    },
    async waitForEvent(predicate, what, timeoutMs = 10_000) {
      try {
        return await waitFor(() => events.find(predicate), { what, timeoutMs });
      } catch (failure) {
        throw new Error(`${failure instanceof Error ? failure.message : String(failure)}; received ${JSON.stringify(events)}`, { cause: failure });
      }
    },
    unsubscribe,
  };
}

export function createTestWsClient(url: string, connectionParams: Record<string, unknown> = {}): TestWsClient {
  const client = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  return {
    subscribe: (query, variables) => subscribeOn(client, query, variables),
    async [Symbol.asyncDispose]() {
      await client.dispose();
    },
  };
}
