// The products + reviews subgraphs (without auth markers) and, optionally, a gateway over their
// composed supergraph: the setup many gateway tests share. Whatever started is closed again when a
// later step fails, so a failing `before` leaves no server listening; `close` (also
// `Symbol.asyncDispose`, for `await using`) stops the gateway before the subgraphs it calls.
import { startTestGateway, type TestGateway } from './test-gateway.ts';
import { composeTestSupergraph, startProductsSubgraph, startReviewsSubgraph, type RunningSubgraph } from './test-subgraphs.ts';

export interface ForeignSubgraphs extends AsyncDisposable {
  readonly products: RunningSubgraph;
  readonly reviews: RunningSubgraph;
  /** Both subgraphs at the URLs they listen on. */
  readonly supergraphSdl: string;
  close(): Promise<void>;
}

export interface ForeignStack extends ForeignSubgraphs {
  readonly gateway: TestGateway;
}

/** Starts products (`withAuth: false`) then reviews and composes them; a failed step closes what started. */
export async function startForeignSubgraphs(): Promise<ForeignSubgraphs> {
  const products = await startProductsSubgraph({ withAuth: false });
  const reviews = await closingOnFailure(startReviewsSubgraph, () => products.close());
  const close = async (): Promise<void> => {
    await products.close();
    await reviews.close();
  };
  const supergraphSdl = await closingOnFailure(async () => composeTestSupergraph([products, reviews]), close);
  return { products, reviews, supergraphSdl, close, [Symbol.asyncDispose]: close };
}

/**
 * The subgraphs plus a gateway over them, started with exactly `env` (nothing is added: a test
 * states AUTH_MODE, RATE_LIMIT_PER_MINUTE and whatever else it depends on) and `deps`.
 */
export async function startForeignStack(env: Record<string, string>, deps?: Parameters<typeof startTestGateway>[2]): Promise<ForeignStack> {
  const subgraphs = await startForeignSubgraphs();
  const gateway = await closingOnFailure(() => startTestGateway(subgraphs.supergraphSdl, env, deps), subgraphs.close);
  const close = async (): Promise<void> => {
    await gateway.close();
    await subgraphs.close();
  };
  return { ...subgraphs, gateway, close, [Symbol.asyncDispose]: close };
}

/** Runs `start`; when it throws, closes what already runs (`close`) before passing the error on. */
async function closingOnFailure<T>(start: () => Promise<T>, close: () => Promise<void>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await close();
    throw error;
  }
}
