// The authentication challenge of a 401. RFC 9110 requires a WWW-Authenticate header on every 401,
// naming how to authenticate: here a bearer token (RFC 6750). Every path that answers a status
// asks here (the gateway's own refusals, Apollo's through extensions.http, the subscription
// streams), so each 401 carries the same challenge and no other status carries one.

const BEARER_CHALLENGE: Readonly<Record<string, string>> = Object.freeze({ 'www-authenticate': 'Bearer' });
const NONE: Readonly<Record<string, string>> = Object.freeze({});

/** The headers a response with `status` must carry to say how to authenticate: the challenge for 401, none otherwise. */
export function challengeHeaders(status: number): Readonly<Record<string, string>> {
  return status === 401 ? BEARER_CHALLENGE : NONE;
}
