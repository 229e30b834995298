// Renders the error registry (errors.ts) as docs/errors.md: the rule for when an error is an HTTP
// status and when it is a 200 with `errors[]`, an overview table, then one section per code.
// `npm run docs:errors` writes it; `npm run check` fails when the committed file differs.
import { ERRORS, GrpcStatus, type ErrorReach, type ErrorSpec } from './errors.ts';

const GRPC_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(GrpcStatus).map(([name, status]) => [status, name]));

const REACH: Readonly<Record<ErrorReach, string>> = {
  client: '',
  subgraph: 'only callers of a subgraph itself',
  internal: 'not caused by anything a client sends',
};

const INTRO = `# Errors

Generated from \`common/src/errors.ts\` by \`npm run docs:errors\`; do not edit by hand.
\`e2e/test/error-statuses.test.ts\` sends a request for every case below that a client can cause
and checks the status and code against the same registry.

## How an error reaches you

Every error the gateway answers has the GraphQL shape, with its code in \`extensions.code\`:

\`\`\`json
{ "errors": [{ "message": "…", "path": ["castVote"], "extensions": { "code": "POLL_NOT_OPEN", "serviceName": "vote" } }], "data": null }
\`\`\`

Which HTTP status comes with it depends on when the error happens:

- **Refused before execution**: the request is malformed, cannot be parsed or validated, lacks a
  token an operation needs or carries a bad one, exceeds a limit, or is a browser preflight from
  an origin the gateway does not allow. Nothing ran. The status is a 4xx or 5xx (the column
  *Refused* below) and the body has \`errors\` and no \`data\`.
- **During execution**: a resolver refuses (an unknown poll, a closed poll, a bad id argument) or a
  subgraph fails. The status is **200**: the body has \`errors\` and \`data\`, in which the failed
  field is \`null\` (and so is its parent, up to the nearest nullable field, when the field is
  non-null) while everything else resolved. Look at \`errors\`, not at the status.

Extensions the gateway may add to an error:

| extension | on | meaning |
|---|---|---|
| \`code\` | every error | the code below |
| \`serviceName\` | errors from a subgraph | the subgraph that raised it (\`vote\`, \`result\`, \`audit\`) |
| \`fields\` | UNAUTHENTICATED, FORBIDDEN from the auth policy | the protected fields the operation selected |
| \`field\` | BAD_USER_INPUT from a resolver | the argument that is wrong |
| \`retryAfterSeconds\` | RATE_LIMITED | when to retry (also the \`retry-after\` header) |
| \`limit\`, \`max\`, \`actual\` | GRAPHQL_VALIDATION_FAILED from the depth or alias limit | which limit, its value, the operation's |
| \`limitBytes\` | BAD_USER_INPUT, 413 | the body limit |
| \`status\` | POLL_STATE_CONFLICT; UPSTREAM_ERROR for a bad HTTP status | the poll's current status; the subgraph's HTTP status |
| \`stacktrace\` | INTERNAL, outside production | where it was thrown (NODE_ENV=production leaves it out and says \`Internal error\`) |

Every response, error or not, carries an \`x-request-id\` header (the caller's, if it sent a
usable one, else a fresh one): quote it when reporting a problem, it is on every log line of the
request. Refusals with 401 carry \`www-authenticate: Bearer\`; 429 carries \`retry-after\`.

Subscriptions (graphql-ws, SSE and multipart at the same \`/graphql\`) follow the same split. A
subscription refused before it starts (parse, validation, auth policy, variables) gets its errors
in a graphql-ws \`error\` message for its id, or, over SSE and multipart, in the one event of a
stream that then completes (the stream itself is HTTP 200; only refusals of the stream request,
such as a bad token or too many streams, get the 4xx status of the *Refused* column). Errors a
subscription's resolvers raise arrive in a result's \`errors\` (a graphql-ws \`next\` message, an
SSE \`next\` event); an upstream lost for good ends the subscription with an error (see
UPSTREAM_UNAVAILABLE). A token that is bad at connection time closes a graphql-ws socket with 4403
and a reason starting with the code.

Apollo Server's own codes that can reach a client are in this registry too (BAD_REQUEST,
GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT, PERSISTED_QUERY_NOT_FOUND).
This gateway never sends OPERATION_RESOLUTION_FAILURE (an operation that cannot be selected is
GRAPHQL_VALIDATION_FAILED) or PERSISTED_QUERY_NOT_SUPPORTED (automatic persisted queries are on).
gRPC statuses are what the internal gRPC services (tally, audit ingest) answer with the code.
`;

export function renderErrorsMarkdown(): string {
  const entries = Object.entries(ERRORS) as [string, ErrorSpec][];
  const overview = entries.map(([code, spec]) => {
    const refused = [...new Set(spec.refused.map((refusal) => refusal.status))].join(', ') || '—';
    const during = spec.duringExecution === undefined ? '—' : '200';
    const reach = REACH[spec.reach] === '' ? '' : ` (${REACH[spec.reach]})`;
    return `| [\`${code}\`](#${code.toLowerCase()}) | ${spec.description}${reach} | ${refused} | ${during} | ${grpc(spec.grpc)} |`;
  });
  const sections = entries.map(([code, spec]) => section(code, spec));
  return [INTRO, '## Codes', '', '| code | meaning | Refused (HTTP) | During execution | gRPC |', '|---|---|---|---|---|', ...overview, '', ...sections].join(
    '\n',
  );
}

function section(code: string, spec: ErrorSpec): string {
  const lines = [`### ${code}`, '', spec.description, ''];
  if (spec.reach !== 'client') lines.push(`*Reach*: ${REACH[spec.reach]}.`, '');
  if (spec.refused.length > 0) {
    lines.push('Refused before execution:', '');
    for (const refusal of spec.refused) lines.push(`- **${refusal.status}**: ${refusal.when}`);
    lines.push('');
  }
  if (spec.duringExecution !== undefined) lines.push(`During execution (**200**, in \`errors[]\` with partial data): ${spec.duringExecution}`, '');
  if (spec.subscriptions !== undefined) lines.push(`Subscriptions: ${spec.subscriptions}`, '');
  lines.push(`gRPC: ${grpc(spec.grpc)}`, '');
  return lines.join('\n');
}

function grpc(status: number): string {
  return `${status} ${GRPC_NAMES.get(status) ?? ''}`.trim();
}
