// The AuditIngest gRPC server: binds, reports whether it is listening (for /readyz), and shuts
// down gracefully (in-flight calls finish) with a fuse that force-closes what remains.
import { Server } from '@grpc/grpc-js';
import type { GrpcKeepalive } from '@votemesh/common/config';
import { bindGrpcServer } from '@votemesh/common/grpc/bind';
import { serverKeepaliveOptions } from '@votemesh/common/grpc/keepalive';
import { ListenError } from '@votemesh/common/startup';
import { loadAuditProto } from '@votemesh/common/grpc/load';
import type { AuditIngestHandlers } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditIngest';

export interface RunningGrpcServer {
  readonly address: string;
  readonly port: number;
  isListening(): boolean;
  close(graceMs?: number): Promise<void>;
}

/** `keepalive` drops senders gone without a FIN, failing their open Record calls. */
export async function startGrpcServer(handlers: AuditIngestHandlers, host: string, port: number, keepalive?: GrpcKeepalive): Promise<RunningGrpcServer> {
  const server = new Server(serverKeepaliveOptions(keepalive));
  server.addService(loadAuditProto().votemesh.audit.v1.AuditIngest.service, handlers);
  const bound = await bindGrpcServer(server, host, port).catch((error: unknown) => {
    if (!(error instanceof Error) || error instanceof ListenError) throw error;
    throw new Error(`AuditIngest gRPC server cannot listen on ${host}:${port}: ${error.message}`, { cause: error });
  });
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  let listening = true;
  let closing: Promise<void> | undefined;
  return {
    address: `${shownHost}:${bound}`,
    port: bound,
    isListening: () => listening,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        listening = false;
        const fuse = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(fuse);
          resolve();
        });
      });
      return closing;
    },
  };
}
