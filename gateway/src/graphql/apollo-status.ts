// Apollo Server answers an error thrown from a plugin hook or the executor with the HTTP status in
// its `extensions.http` (and strips that from the response), else 500: our plugins throw registry
// errors with the registry's status attached here.
import { VotemeshError } from '@votemesh/common/errors';

export function withHttpStatus(error: VotemeshError): VotemeshError {
  return new VotemeshError(error.code, error.message, { details: { ...error.extensions, http: { status: error.httpStatus } } });
}
