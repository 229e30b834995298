// The worker's HTTP side: probes and metrics only (the work happens in the consumer, the API is
// gRPC). Readiness decides whether TallyService gets traffic, so it means: not draining and
// PostgreSQL answers (both TallyService calls read the tallies there; the gRPC server is up before
// this one starts). Redis and the consumer loop are reported, not required: TallyService reads
// without them, and a stalled consumer is not fixed by routing reads elsewhere.
import type { Redis } from 'ioredis';
import { redisCheck } from '@votemesh/common/bus/connect-redis-bus';
import type { Registry } from 'prom-client';
import type { PrismaClient } from '@votemesh/common/db/client';
import { createHttpServer, handleProbe, listen, sendJson, type RunningHttpServer } from '@votemesh/common/http-server';
import { createReadiness, type Readiness, type ReadinessOptions } from '@votemesh/common/readiness';
import type { Consumer } from './consumer.ts';

export interface HttpServerDeps {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly prisma: PrismaClient;
  /** For the readiness check: a connection that fails at once while Redis is away (main.ts's `probes`), so /readyz answers. */
  readonly redis: Redis;
  /** Read at each probe: the consumer may be replaced or stopped while the server runs. */
  readonly consumer: () => Consumer | undefined;
}

export function workerReadinessChecks(deps: Pick<HttpServerDeps, 'prisma' | 'redis' | 'consumer'>): Pick<ReadinessOptions, 'required' | 'degrading'> {
  return {
    required: [{ name: 'postgresql', check: async () => void (await deps.prisma.$queryRaw`SELECT 1`) }],
    degrading: [
      redisCheck('redis', deps.redis),
      {
        name: 'consumer',
        async check() {
          const state = deps.consumer()?.state();
          if (state?.phase !== 'running') throw new Error(`consumer is ${state?.phase ?? 'not started'}`);
          if (state.lastError) throw new Error(`consumer is retrying after: ${state.lastError}`);
        },
      },
    ],
  };
}

export interface RunningWorkerHttpServer extends RunningHttpServer {
  /** main.ts drains it first at shutdown, before the gRPC server and the consumer stop. */
  readonly readiness: Readiness;
}

export async function startHttpServer(deps: HttpServerDeps): Promise<RunningWorkerHttpServer> {
  const readiness = createReadiness({ registry: deps.registry, ...workerReadinessChecks(deps) });
  const server = createHttpServer(async (req, res) => {
    if (await handleProbe(req, res, { registry: deps.registry, readiness })) return;
    sendJson(res, 404, { error: 'not found: this port serves /healthz, /readyz and /metrics' });
  });
  return { ...(await listen(server, deps.port, deps.host)), readiness };
}
