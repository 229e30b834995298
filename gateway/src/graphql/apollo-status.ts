// Apollo Server answers an error thrown from a plugin hook or the executor with the HTTP status in
// its `extensions.http` (and strips that from the response), else 500: our plugins throw registry
// errors with the registry's status attached here. A 401 also says which scheme to authenticate
// with (RFC 9110 requires it; http/respond.ts sendError does the same for the gateway's own refusals).
import { HeaderMap } from '@apollo/server';
import { VotemeshError } from '@votemesh/common/errors';

export function withHttpStatus(error: VotemeshError): VotemeshError {
  const status = error.httpStatus;
  const http = status === 401 ? { status, headers: new HeaderMap([['www-authenticate', 'Bearer']]) } : { status };
  return new VotemeshError(error.code, error.message, { details: { ...error.extensions, http } });
}
