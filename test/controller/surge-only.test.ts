/**
 * A surge-only rollout (maxSurge 1, maxUnavailable 0) through the running controller: the
 * Provider's budgets must reach the planner as written. At every step the new instance comes
 * first and an old one goes only once a new one is Ready, so the Ready count never drops below
 * `desired`. Each step is observed when the controller has acted (a new instance appears), not
 * after a sleep; the test plays the agents, marking instances Running one step at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../controller/index.js';
import { startCluster, startClusterController, waitFor, type Cluster } from './cluster.js';

describe('a surge-only rollout', () => {
  let c: Cluster;
  let ctl: RunningController;
  let ref = '';
  let d1 = '';
  let d2 = '';

  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/surge');
    d1 = await c.publish('acme/surge', { revision: 1, targets: ['x86_64-linux'] });
    d2 = await c.publish('acme/surge', { revision: 2, targets: ['x86_64-linux'] });
    for (let i = 1; i <= 3; i++) await c.addNode(`s${i}`, 'amd64');
    ctl = await startClusterController(c);
  }, 30_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('with maxUnavailable 0 creates each new instance before removing an old one, never below 2 Ready nor above 3 instances', async () => {
    await c.applyProvider('surge', { archive: { ref, revision: 1 }, replicas: 2, rollout: { maxSurge: 1, maxUnavailable: 0 } });
    await waitFor('2 instances of revision 1', async () => (await c.instances('surge')).length === 2);
    await c.markRunning('surge');
    await waitFor('2 Ready', async () => (await c.provider('surge')).status?.readyReplicas === 2);
    await c.patchProvider('surge', { archive: { ref, revision: 2 } });
    for (let step = 1; step <= 2; step++) {
      // the controller surges: a new instance appears while both old ones still run …
      const seen = await waitFor(`step ${step}: new instance ${step}`, async () => {
        const l = await c.instances('surge');
        return l.filter((i) => i.spec.archive.digest === d2).length === step && l;
      });
      expect(seen).toHaveLength(3);
      expect(seen.filter((i) => i.status?.phase === 'Running')).toHaveLength(2);
      // … and an old one goes only after the new one is Ready
      await c.markRunning('surge');
      await waitFor(
        `step ${step}: an old instance removed`,
        async () => (await c.instances('surge')).filter((i) => i.spec.archive.digest === d1).length === 2 - step,
      );
      const after = await c.instances('surge');
      expect(after.filter((i) => i.status?.phase === 'Running').length).toBeGreaterThanOrEqual(2);
      expect(after.length).toBeLessThanOrEqual(3);
    }
    const done = await c.instances('surge');
    expect(done.map((i) => i.spec.archive.digest)).toEqual([d2, d2]);
  }, 60_000);
});
