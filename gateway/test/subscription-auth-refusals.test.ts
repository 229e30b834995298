// An auth refusal reads the same on every transport: the subscription transports (graphql-ws, SSE,
// multipart) refuse with HTTP's words and extensions (enforcePolicy: the fields, the scope, the
// caller's role, `extensions.fields`), where they used to say "This subscription selects fields that
// require the scope admin" with no fields.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Supergraph } from '@apollo/federation-internals';
import { Kind, parse, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { VotemeshError } from '@votemesh/common/errors';
import { enforcePolicy } from '../src/auth/enforce-policy.ts';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { TRANSPORTS } from './fixtures/subscriptions/test-clients.ts';

const CASES = [
  {
    name: 'an anonymous caller selecting an @authenticated field',
    query: 'subscription { secretTicks(room: "a") { n } }',
    as: undefined,
    expected: { message: 'secretTicks requires a bearer token', extensions: { code: 'UNAUTHENTICATED', fields: ['secretTicks'] } },
  },
  {
    name: 'a voter selecting an admin field',
    query: 'subscription { adminTicks(room: "a") { n } }',
    as: 'voter',
    expected: { message: 'adminTicks requires the admin scope; your role is voter', extensions: { code: 'FORBIDDEN', fields: ['adminTicks'] } },
  },
] as const;

describe('auth refusals on the subscription transports', () => {
  let harness: Harness;
  let apiSchema: GraphQLSchema;
  before(async () => {
    harness = await startHarness();
    apiSchema = Supergraph.build(harness.supergraph.executableSdl, { supportedFeatures: null }).apiSchema().toGraphQLJSSchema();
  });
  after(() => harness.close());

  /** What the HTTP path (the policy plugin) answers for the same document and caller. */
  const httpRefusal = (query: string, role: 'voter' | undefined) => {
    const document = parse(query);
    const operation = document.definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
    assert.ok(operation);
    try {
      enforcePolicy({
        schema: apiSchema,
        operation,
        fragments: {},
        variables: {},
        policy: harness.supergraph.policy,
        identity: role && { subject: 'refused', role, scopes: [] },
      });
    } catch (error) {
      assert.ok(error instanceof VotemeshError);
      return error.toJSON();
    }
    return undefined;
  };

  for (const transport of TRANSPORTS) {
    for (const testCase of CASES) {
      it(`refuses ${testCase.name} over ${transport.name} as HTTP does`, async () => {
        const token = testCase.as ? await harness.token({ subject: 'refused', role: testCase.as }) : undefined;
        const stream = await transport.open({ http: harness.url, ws: harness.wsUrl }, { query: testCase.query }, token);
        const [result] = await stream.waitForResults(1);
        await stream.waitForEnd();
        assert.deepEqual(result, { errors: [testCase.expected] });
        assert.deepEqual(result?.errors?.[0], httpRefusal(testCase.query, testCase.as));
      });
    }
  }
});
