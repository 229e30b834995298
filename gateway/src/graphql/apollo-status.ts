// Apollo Server answers an error thrown from a plugin hook or the executor with the HTTP status in
// its `extensions.http` (and strips that from the response), else 500: our plugins throw registry
// errors with the registry's status attached here. A 401 also says which scheme to authenticate
// with (http/challenge.ts, as for the gateway's own refusals).
import { HeaderMap } from '@apollo/server';
import { VotemeshError } from '@votemesh/common/errors';
import { challengeHeaders } from '../http/challenge.ts';

export function withHttpStatus(error: VotemeshError): VotemeshError {
  const status = error.httpStatus;
  const challenge = Object.entries(challengeHeaders(status));
  const http = challenge.length > 0 ? { status, headers: new HeaderMap(challenge) } : { status };
  return new VotemeshError(error.code, error.message, { details: { ...error.extensions, http } });
}
