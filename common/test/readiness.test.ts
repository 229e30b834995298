// /readyz and the `votemesh_dependency_up` scrape share one run of the checks (a run in flight is
// joined, a just-finished one is answered again for READINESS_REUSE_MS), against a real server
// with the probes every process serves. Before, each ran every check itself: for the gateway, one
// `{ __typename }` query per subgraph for the probe and another for each scrape.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createHttpServer, handleProbe, listen, type RunningHttpServer } from '../src/http-server.ts';
import { createReadiness, READINESS_REUSE_MS, type ReadinessCheck } from '../src/readiness.ts';
import { waitFor } from '../src/testing/wait-for.ts';

/** A check that counts its runs and, while held, answers only when released. */
function countedCheck(name: string) {
  let calls = 0;
  let ok = true;
  let held: PromiseWithResolvers<void> | undefined;
  const check: ReadinessCheck = {
    name,
    async check() {
      calls += 1;
      await held?.promise;
      if (!ok) throw new Error(`${name} is down`);
    },
  };
  return {
    check,
    calls: () => calls,
    hold: () => {
      held = Promise.withResolvers<void>();
    },
    release: () => held?.resolve(),
    fail: () => {
      ok = false;
    },
  };
}

describe('readiness checks shared between /readyz and the scrape', () => {
  const own = countedCheck('own');
  const subgraph = countedCheck('subgraph:a');
  const registry = new Registry();
  const readiness = createReadiness({ registry, required: [own.check], degrading: [subgraph.check] });
  let requests = 0;
  let server: RunningHttpServer;
  before(async () => {
    server = await listen(
      createHttpServer(async (req, res) => {
        requests += 1;
        await handleProbe(req, res, { registry, readiness });
      }),
      0,
      '127.0.0.1',
    );
  });
  after(() => server.close());

  it('runs each check once for a /readyz and a scrape that arrive together', async () => {
    own.hold();
    subgraph.hold();
    const readyz = fetch(`${server.url}/readyz`);
    const scrape = fetch(`${server.url}/metrics`);
    // Both requests are being answered (handleProbe has called report() and collect()) while the checks still wait.
    await waitFor(() => requests === 2, { what: 'both requests to reach the probes' });
    own.release();
    subgraph.release();
    const [ready, metrics] = await Promise.all([readyz, scrape]);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: [{ name: 'own', ok: true }], dependencies: [{ name: 'subgraph:a', ok: true }] });
    const text = await metrics.text();
    assert.match(text, /^votemesh_dependency_up\{dependency="own",required="true"\} 1$/m);
    assert.match(text, /^votemesh_dependency_up\{dependency="subgraph:a",required="false"\} 1$/m);
    assert.deepEqual([own.calls(), subgraph.calls()], [1, 1], 'one run of the checks for both');
  });
});

describe('a finished run of the readiness checks', () => {
  it(`is answered again for ${READINESS_REUSE_MS} ms, then the checks run anew; draining shows at once`, async () => {
    let clock = 0;
    const subgraph = countedCheck('subgraph:a');
    const registry = new Registry();
    const readiness = createReadiness({ registry, degrading: [subgraph.check], now: () => clock });

    assert.equal((await readiness.report()).status, 'ready');
    subgraph.fail();
    clock += READINESS_REUSE_MS - 1;
    assert.match(await registry.metrics(), /^votemesh_dependency_up\{dependency="subgraph:a",required="false"\} 1$/m, 'the run just finished');
    assert.equal(subgraph.calls(), 1);

    clock += 1;
    assert.match(await registry.metrics(), /^votemesh_dependency_up\{dependency="subgraph:a",required="false"\} 0$/m, 'a new run');
    assert.equal(subgraph.calls(), 2);
    assert.deepEqual((await readiness.report()).dependencies, [{ name: 'subgraph:a', ok: false, error: 'subgraph:a is down' }]);
    assert.equal(subgraph.calls(), 2, 'the scrape’s run, answered again');

    await readiness.drain();
    const draining = await readiness.report();
    assert.deepEqual([draining.ready, draining.status], [false, 'draining']);
    assert.equal(subgraph.calls(), 2);
  });
});

describe('a readiness check that does not answer', () => {
  it('counts as failed after timeoutMs, naming the timeout', async () => {
    const stuck = countedCheck('stuck');
    stuck.hold();
    const readiness = createReadiness({ required: [stuck.check], timeoutMs: 20 });
    assert.deepEqual(await readiness.report(), {
      ready: false,
      status: 'not ready',
      checks: [{ name: 'stuck', ok: false, error: 'timed out after 20 ms' }],
      dependencies: [],
    });
    stuck.release();
  });
});
