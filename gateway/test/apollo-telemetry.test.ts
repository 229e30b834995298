// @apollo/gateway sends anonymous usage metrics to Apollo (an OTLP exporter it starts in its
// constructor) unless APOLLO_TELEMETRY_DISABLED is true in the environment. votemesh keeps that off
// by default and lets the config, not the process environment, decide.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ApolloGateway } from '@apollo/gateway';
import { loadConfig } from '../src/config.ts';
import { withApolloTelemetry } from '../src/supergraph/apollo-telemetry.ts';

const VARIABLE = 'APOLLO_TELEMETRY_DISABLED';
const original = process.env[VARIABLE];
afterEach(() => {
  if (original === undefined) delete process.env[VARIABLE];
  else process.env[VARIABLE] = original;
});

/** What ApolloGateway will dispose at stop: the usage exporter's meter provider is one of them. */
function disposersOf(gateway: ApolloGateway): number {
  return (gateway as unknown as { toDispose: unknown[] }).toDispose.length;
}

describe('Apollo usage telemetry', () => {
  it('is off unless APOLLO_TELEMETRY_DISABLED=false', () => {
    assert.equal(loadConfig({}).apolloTelemetryDisabled, true);
    assert.equal(loadConfig({ APOLLO_TELEMETRY_DISABLED: 'false' }).apolloTelemetryDisabled, false);
  });

  it('starts no usage exporter when off, even with the process environment saying otherwise, and puts the environment back', () => {
    process.env[VARIABLE] = 'false';
    const off = withApolloTelemetry(false, () => new ApolloGateway({ supergraphSdl: 'unused' }));
    assert.equal(process.env[VARIABLE], 'false', 'the environment is as it was');
    delete process.env[VARIABLE];
    const on = withApolloTelemetry(true, () => new ApolloGateway({ supergraphSdl: 'unused' }));
    assert.equal(process.env[VARIABLE], undefined, 'the environment is as it was');
    assert.equal(disposersOf(on) - disposersOf(off), 1, 'only the gateway allowed to report has the exporter to dispose');
    // Not disposed: its shutdown would flush, i.e. send a report to Apollo. Its timer is unref'd.
  });

  it('puts the environment back when construction throws', () => {
    delete process.env[VARIABLE];
    assert.throws(() =>
      withApolloTelemetry(false, () => {
        assert.equal(process.env[VARIABLE], 'true');
        throw new Error('boom');
      }),
    );
    assert.equal(process.env[VARIABLE], undefined);
  });
});
