// Binding a gRPC server the way every process does: an IPv6 host in brackets, and a port that is
// taken or privileged or a HOST not of this machine reported as ListenError naming the setting
// (grpc-js says why only in prose).
import { type Server, ServerCredentials } from '@grpc/grpc-js';
import { explainListenError, hostPort } from '../startup.ts';

/**
 * Binds `server` to `host:port` without TLS (the mesh adds mTLS) and resolves the bound port.
 * `portVariable` is the setting that chose the port. @default 'GRPC_PORT'
 */
export function bindGrpcServer(server: Server, host: string, port: number, portVariable = 'GRPC_PORT'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(host, port), ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(explainListenError(error, portVariable, host, port));
      else resolve(bound);
    });
  });
}
