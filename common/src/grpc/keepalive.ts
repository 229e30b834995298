// HTTP/2 keepalive for every gRPC link, in one place. Without pings a peer that vanished without a
// FIN (pod killed, node lost, partition) is noticed only when a write fails, or never: an idle
// WatchResults stream or AuditIngest call would sit on a dead connection. Clients and servers read
// the same GRPC_KEEPALIVE_* variables, so a server's ping policy always admits its clients' pings.
import type { ChannelOptions, ServerOptions } from '@grpc/grpc-js';
import { DEFAULT_GRPC_KEEPALIVE, type GrpcKeepalive } from '../config.ts';

/** Channel options of a client: ping even between calls, since our streams stay idle for long. */
export function clientKeepaliveOptions(keepalive: GrpcKeepalive = DEFAULT_GRPC_KEEPALIVE): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

/**
 * Options of a server: it pings its clients too (so it drops dead ones and their calls), and it
 * admits client pings down to half the configured interval (timer skew, or a client configured
 * more eagerly). grpc-js 1.14 servers enforce no ping policy, so the `grpc.http2.*` and
 * permit-without-calls entries matter only to a policy-enforcing server (grpc-core, a later
 * grpc-js): there they keep our clients' pings from being answered with GOAWAY too_many_pings.
 */
export function serverKeepaliveOptions(keepalive: GrpcKeepalive = DEFAULT_GRPC_KEEPALIVE): ServerOptions {
  const minPingIntervalMs = Math.max(1, Math.floor(keepalive.timeMs / 2));
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': minPingIntervalMs,
    'grpc.http2.min_time_between_pings_ms': minPingIntervalMs,
  };
}
