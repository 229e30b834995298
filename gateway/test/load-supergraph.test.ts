// Supergraph loading: the security features become a policy and disappear from the SDL that
// @apollo/gateway sees (it refuses SECURITY links it does not implement).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloGateway } from '@apollo/gateway';
import { loadSupergraph, SupergraphError } from '../src/supergraph/load-supergraph.ts';
import { combineAuth, describeScopes } from '../src/supergraph/auth-policy.ts';
import { fixtureSupergraphSdl } from './helpers/fixture-supergraph.ts';

describe('loadSupergraph', () => {
  const sdl = fixtureSupergraphSdl();

  it('strips @authenticated/@requiresScopes so ApolloGateway accepts the supergraph', async () => {
    await assert.rejects(new ApolloGateway({ supergraphSdl: sdl }).load(), /is for: SECURITY but is unsupported/);
    const loaded = loadSupergraph(sdl);
    assert.doesNotMatch(loaded.executableSdl, /@authenticated|@requiresScopes|requiresScopes__Scope|for: SECURITY/);
    const gateway = new ApolloGateway({ supergraphSdl: loaded.executableSdl });
    const { schema } = await gateway.load();
    assert.ok(schema.getMutationType()?.getFields()['castVote']);
    await gateway.stop();
  });

  it('lists the subgraphs with their URLs', () => {
    assert.deepEqual(loadSupergraph(sdl).subgraphs, [
      { name: 'audit', url: 'http://127.0.0.1:4003/graphql' },
      { name: 'result', url: 'http://127.0.0.1:4002/graphql' },
      { name: 'vote', url: 'http://127.0.0.1:4001/graphql' },
    ]);
  });

  it('applies a type-level marker to the fields of the type and the fields returning it', () => {
    const typed = sdl.replace('type AuditVerification\n', 'type AuditVerification @authenticated\n');
    assert.notEqual(typed, sdl);
    const { policy } = loadSupergraph(typed);
    assert.equal(policy.getFieldAuth('AuditVerification', 'ok'), 'authenticated');
    // verifyAuditLog already needs admin; admin implies authenticated.
    assert.deepEqual(policy.getFieldAuth('Query', 'verifyAuditLog'), { scopes: [['admin']] });
  });

  it('follows a renamed import (`as`)', () => {
    const renamed = sdl
      .replace(
        '@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)',
        '@link(url: "https://specs.apollo.dev/authenticated/v0.1", as: "signedIn", for: SECURITY)',
      )
      .replaceAll('@authenticated', '@signedIn');
    const loaded = loadSupergraph(renamed);
    assert.equal(loaded.policy.getFieldAuth('Mutation', 'castVote'), 'authenticated');
    assert.doesNotMatch(loaded.executableSdl, /signedIn/);
  });

  it('refuses SECURITY features it does not enforce, by name', () => {
    const withPolicy = sdl.replace('{\n  query: Query', '@link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)\n{\n  query: Query');
    assert.throws(
      () => loadSupergraph(withPolicy),
      (error: unknown) => error instanceof SupergraphError && /policy\/v0\.1 \(supported: @authenticated, @requiresScopes\)/.test(error.message),
    );
  });

  it('says so when the SDL is not GraphQL', () => {
    assert.throws(() => loadSupergraph('type {'), /The supergraph is not valid GraphQL SDL/);
  });
});

describe('auth requirements', () => {
  it('combine as AND: scopes imply authentication, scope sets multiply out', () => {
    assert.equal(combineAuth('public', 'authenticated'), 'authenticated');
    assert.deepEqual(combineAuth('authenticated', { scopes: [['admin']] }), { scopes: [['admin']] });
    assert.deepEqual(combineAuth({ scopes: [['a'], ['b']] }, { scopes: [['c']] }), {
      scopes: [
        ['a', 'c'],
        ['b', 'c'],
      ],
    });
  });

  it('describe OR-of-AND scope lists readably', () => {
    assert.equal(describeScopes([['admin']]), 'admin');
    assert.equal(describeScopes([['a', 'b'], ['c']]), '(a and b) or c');
  });
});
