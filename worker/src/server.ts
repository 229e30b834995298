// The worker's HTTP side: probes and metrics only (the work happens in the consumer, the API is
// gRPC). Readiness means PostgreSQL and Redis answer and the consumer loop is running.
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { PrismaClient } from '@votemesh/common/db/client';
import { createHttpServer, handleProbe, listen, sendJson, type ReadinessCheck, type RunningHttpServer } from '@votemesh/common/http-server';
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

export function workerReadinessChecks(deps: Pick<HttpServerDeps, 'prisma' | 'redis' | 'consumer'>): ReadinessCheck[] {
  return [
    { name: 'postgresql', check: async () => void (await deps.prisma.$queryRaw`SELECT 1`) },
    { name: 'redis', check: async () => void (await deps.redis.ping()) },
    {
      name: 'consumer',
      async check() {
        const state = deps.consumer()?.state();
        if (state?.phase !== 'running') throw new Error(`consumer is ${state?.phase ?? 'not started'}`);
        if (state.lastError) throw new Error(`consumer is retrying after: ${state.lastError}`);
      },
    },
  ];
}

export async function startHttpServer(deps: HttpServerDeps): Promise<RunningHttpServer> {
  const checks = workerReadinessChecks(deps);
  const server = createHttpServer(async (req, res) => {
    if (await handleProbe(req, res, { registry: deps.registry, checks })) return;
    sendJson(res, 404, { error: 'not found: this port serves /healthz, /readyz and /metrics' });
  });
  return listen(server, deps.port, deps.host);
}
