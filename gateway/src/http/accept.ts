// What a /graphql client says it can read (its Accept header), as far as choosing a transport goes:
// a JSON GraphQL response, and which subscription stream format if any. Entries with q=0 are
// refusals and do not count.
//
// Browsers' GraphQL clients list everything they can read on every request (urql:
// `application/graphql-response+json, application/graphql+json, application/json,
// text/event-stream, multipart/mixed`; Apollo Client's subscriptions:
// `multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json`), so "mentions
// text/event-stream" does not mean "wants a stream": http/graphql-route.ts decides with this.

export type StreamMode = 'sse' | 'multipart';

export interface AcceptedMedia {
  /** A GraphQL-over-HTTP JSON response is acceptable (no Accept header means anything is). */
  readonly json: boolean;
  /** The stream format the client reads: SSE, else Apollo's multipart subscriptions; undefined for none. */
  readonly stream: StreamMode | undefined;
}

const JSON_TYPES = new Set(['application/json', 'application/graphql-response+json', 'application/*', '*/*']);

export function acceptedMedia(accept: string | undefined): AcceptedMedia {
  if (accept === undefined || accept.trim() === '') return { json: true, stream: undefined };
  let json = false;
  let sse = false;
  let multipart = false;
  for (const entry of splitOutsideQuotes(accept, ',')) {
    const [type = '', ...parameters] = splitOutsideQuotes(entry, ';').map((part) => part.trim());
    const params = new Map(
      parameters.map((parameter) => {
        const equals = parameter.indexOf('=');
        if (equals < 0) return [parameter.toLowerCase(), ''] as const;
        return [parameter.slice(0, equals).trim().toLowerCase(), parameter.slice(equals + 1).trim()] as const;
      }),
    );
    if (Number(params.get('q') ?? '1') === 0) continue;
    const media = type.toLowerCase();
    if (JSON_TYPES.has(media)) json = true;
    else if (media === 'text/event-stream') sse = true;
    else if (media === 'multipart/mixed' && params.has('subscriptionspec')) multipart = true;
  }
  return { json, stream: sse ? 'sse' : multipart ? 'multipart' : undefined };
}

/** Splits on `separator` where it is not inside a quoted string (`boundary="a,b"`). */
function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let index = 0; index < value.length; index++) {
    const char = value[index];
    if (char === '"') quoted = !quoted;
    else if (char === separator && !quoted) {
      parts.push(value.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(value.slice(start));
  return parts.filter((part) => part.trim() !== '');
}
