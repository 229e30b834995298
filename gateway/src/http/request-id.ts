// Request ids: accept the caller's `x-request-id` when it looks like one (so an ingress or mesh id
// follows the request), otherwise generate one; echo it on the response and forward it to
// subgraphs (forward-identity.ts). Logged on every line about the request.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REQUEST_ID_HEADER } from '@votemesh/common/telemetry/names';

/** Printable, header-safe and short: anything else is replaced by a fresh id. */
const ACCEPTABLE = /^[A-Za-z0-9._:/+=-]{1,128}$/;

export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const offered = req.headers[REQUEST_ID_HEADER];
  const candidate = Array.isArray(offered) ? offered[0] : offered;
  const requestId = candidate !== undefined && ACCEPTABLE.test(candidate) ? candidate : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, requestId);
  return requestId;
}
