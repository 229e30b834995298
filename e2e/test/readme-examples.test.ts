// README.md "## The GraphQL API", run as written against the real stack: its curl token requests,
// its curl example, then every ```graphql block in order, each with the token its first line names
// (`# Authorization: Bearer $ADMIN` / `$VOTER`, none: anonymous) and the ```json variables after
// it, whose "…" placeholders are filled with the ids the earlier blocks answered (the poll and
// option ids from CreatePoll, the receipt id from CastVote). Queries and mutations go over HTTP,
// subscriptions over graphql-ws. A README example that no longer matches the schema or the auth
// rules fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Kind, parse, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient } from '../src/subscription-client.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const PLACEHOLDER = '…';

interface Example {
  readonly name: string;
  readonly query: string;
  readonly operation: OperationDefinitionNode;
  readonly token: 'ADMIN' | 'VOTER' | undefined;
  readonly variables: Record<string, unknown>;
}

/** The API section: from its heading to the next `## `. */
function apiSection(): string {
  const start = README.indexOf('## The GraphQL API');
  assert.ok(start >= 0, 'README.md has a "## The GraphQL API" section');
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** Fenced blocks in order, with their language. */
function fencedBlocks(markdown: string): { lang: string; body: string }[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((match) => ({ lang: match[1] ?? '', body: match[2] ?? '' }));
}

function examples(): Example[] {
  const blocks = fencedBlocks(apiSection());
  const found: Example[] = [];
  blocks.forEach((block, index) => {
    if (block.lang !== 'graphql') return;
    const document = parse(block.body);
    const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
    assert.equal(operations.length, 1, `one operation per block, so it can be sent as it is:\n${block.body}`);
    const operation = operations[0] as OperationDefinitionNode;
    const token = /^# Authorization: Bearer \$(ADMIN|VOTER)$/m.exec(block.body)?.[1] as 'ADMIN' | 'VOTER' | undefined;
    const next = blocks[index + 1];
    const variables = next?.lang === 'json' ? (JSON.parse(next.body) as Record<string, unknown>) : {};
    found.push({ name: operation.name?.value ?? '(anonymous)', query: block.body, operation, token, variables });
  });
  return found;
}

/** Every field the selection set names is in the answer (null allowed), through lists and fragments. */
function assertShape(selectionSet: SelectionSetNode, value: unknown, path: string): void {
  if (value === null) return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => assertShape(selectionSet, item, `${path}[${index}]`));
    return;
  }
  assert.equal(typeof value, 'object', `${path} is an object`);
  const object = value as Record<string, unknown>;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const key = selection.alias?.value ?? selection.name.value;
      const skipped = selection.directives?.some((directive) => directive.name.value === 'include' || directive.name.value === 'skip');
      if (skipped && !(key in object)) continue;
      assert.ok(key in object, `${path}.${key} is in the answer`);
      if (selection.selectionSet) assertShape(selection.selectionSet, object[key], `${path}.${key}`);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) assertShape(selection.selectionSet, value, path);
  }
}

describe('the README GraphQL examples run as written', () => {
  let stack: Stack;
  const tokens: Partial<Record<'ADMIN' | 'VOTER', string>> = {};
  const ids: Record<string, string> = {};

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.[Symbol.asyncDispose]();
  });

  const local = (url: string): string => url.replace('http://127.0.0.1:4000', stack.gatewayUrl);
  const post = async (query: string, variables: Record<string, unknown>, token: string | undefined) => {
    const response = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as { data?: Record<string, unknown> | null; errors?: unknown[] } };
  };
  const fill = (example: Example): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(example.variables).map(([name, value]) => {
        if (value !== PLACEHOLDER) return [name, value];
        const id = ids[name];
        assert.ok(id, `${example.name}: no earlier example answered a value for "${name}"`);
        return [name, id];
      }),
    );

  it('the token commands get a voter and an admin token from the dev issuer', async () => {
    const script = fencedBlocks(apiSection()).find((block) => block.lang === 'sh' && block.body.includes('/auth/token'));
    assert.ok(script, 'a sh block with the token commands');
    const commands = script.body.replace(/\\\n\s*/g, ' ').split('\n');
    for (const name of ['VOTER', 'ADMIN'] as const) {
      const command = commands.find((line) => line.startsWith(`${name}=$(curl`));
      assert.ok(command, `the ${name} command`);
      const url = /(http:\/\/127\.0\.0\.1:4000\S+)/.exec(command)?.[1];
      const data = /-d '([^']*)'/.exec(command)?.[1];
      const field = /jq -r \.(\w+)/.exec(command)?.[1];
      assert.ok(url && field, `${name}: a URL and a jq field in ${command}`);
      assert.match(command, /-X POST/);
      const body = data?.replace('dev-admin-secret', ADMIN_SECRET);
      const response = await fetch(local(url), { method: 'POST', headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
      assert.equal(response.status, 200, `${name}: ${command}`);
      const issued = (await response.json()) as Record<string, unknown>;
      assert.equal(issued['role'], name.toLowerCase());
      const token = issued[field];
      assert.equal(typeof token, 'string');
      tokens[name] = token as string;
    }
  });

  it('the curl example sends the first operation as written', async () => {
    const example = fencedBlocks(apiSection()).find((block) => block.lang === 'sh' && block.body.includes('/graphql'));
    assert.ok(example, 'a sh block posting to /graphql');
    const command = example.body.replace(/\\\n\s*/g, ' ');
    const body = JSON.parse(/-d '([^']*)'/.exec(command)?.[1] ?? 'null') as { query: string };
    assert.match(command, /authorization: Bearer \$ADMIN/);
    const answer = await post(body.query, {}, tokens.ADMIN);
    assert.deepEqual(answer.body.errors, undefined);
    const [firstExample] = examples();
    assert.equal(parse(body.query).definitions.length, 1);
    assert.ok(firstExample && body.query.includes(`mutation ${firstExample.name}`), 'the curl example is the first operation');
  });

  it('has the examples the walkthrough needs, each one operation with its own block', () => {
    assert.deepEqual(
      examples().map((example) => example.name),
      ['CreatePoll', 'OpenPoll', 'CastVote', 'VoteReceipt', 'Poll', 'PollAuditTrail', 'PollResults'],
    );
  });

  for (const example of examples()) {
    it(`${example.name} (${example.operation.operation}, ${example.token ?? 'anonymous'})`, async () => {
      const variables = fill(example);
      const token = example.token && tokens[example.token];
      if (example.token) assert.ok(token, `a ${example.token} token from the token commands`);
      let data: Record<string, unknown>;
      if (example.operation.operation === 'subscription') {
        await using subscriptions = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', ...(token ? { token } : {}) });
        const subscription = subscriptions.subscribe(example.query, variables);
        const event = await subscription.waitForEvent((candidate) => candidate.data != null || candidate.errors !== undefined);
        assert.deepEqual(event.errors, undefined);
        data = event.data as Record<string, unknown>;
      } else {
        const answer = await post(example.query, variables, token);
        assert.deepEqual({ status: answer.status, errors: answer.body.errors }, { status: 200, errors: undefined });
        data = answer.body.data as Record<string, unknown>;
      }
      assertShape(example.operation.selectionSet, data, 'data');
      for (const [field, value] of Object.entries(data)) assert.notEqual(value, null, `data.${field} is not null`);
      learnIds(example.name, data);
    });
  }

  /** The ids later examples' "…" stand for, from the answers that hand them out. */
  function learnIds(name: string, data: Record<string, unknown>): void {
    if (name === 'CreatePoll') {
      const poll = data['createPoll'] as { id: string; status: string; options: { id: string; label: string }[] };
      assert.equal(poll.status, 'DRAFT');
      assert.deepEqual(
        poll.options.map((option) => option.label),
        ['Cats', 'Dogs'],
      );
      ids['pollId'] = poll.id;
      ids['optionId'] = poll.options[0]?.id ?? '';
    }
    if (name === 'OpenPoll') assert.equal((data['openPoll'] as { status: string }).status, 'OPEN');
    if (name === 'CastVote') {
      const receipt = data['castVote'] as { id: string; status: string };
      assert.equal(receipt.status, 'PENDING');
      ids['receiptId'] = receipt.id;
    }
    if (name === 'Poll') {
      const poll = data['poll'] as { myVote?: { option: { label: string } } | null; results: { options: unknown[] } | null };
      assert.equal(poll.myVote?.option.label, 'Cats', 'myVote is the vote just cast');
      assert.equal(poll.results?.options.length, 2);
    }
    if (name === 'PollAuditTrail') {
      const trail = (data['poll'] as { auditTrail: { edges: { node: { action: string } }[] } }).auditTrail;
      assert.ok(trail.edges.length > 0, 'creating and opening the poll are in its audit trail');
    }
    if (name === 'PollResults') assert.equal((data['pollResults'] as { poll: { question: string } }).poll.question, 'Cats or dogs?');
  }

  it('the Poll example also runs anonymously with signedIn false, as the README says', async () => {
    const example = examples().find((candidate) => candidate.name === 'Poll');
    assert.ok(example);
    const anonymous = await post(example.query, { ...fill(example), signedIn: false }, undefined);
    assert.deepEqual({ status: anonymous.status, errors: anonymous.body.errors }, { status: 200, errors: undefined });
    assert.equal((anonymous.body.data?.['poll'] as Record<string, unknown>)['myVote'], undefined);
    const refused = await post(example.query, { ...fill(example), signedIn: true }, undefined);
    assert.equal(refused.status, 401, 'selecting myVote without a token refuses the whole request');
  });

  it('a voter selecting the admin-only auditTrail is refused whole, as the README says', async () => {
    const example = examples().find((candidate) => candidate.name === 'PollAuditTrail');
    assert.ok(example);
    const refused = await post(example.query, fill(example), tokens.VOTER);
    assert.equal(refused.status, 403);
  });
});
