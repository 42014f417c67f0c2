import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startController, type RunningController } from '../../controller/index.js';
import { generateSeed } from '../../par/index.js';
import { startCluster, waitFor, NS, type Cluster } from './cluster.js';

const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

describe('rollout, rollback and bad revisions', () => {
  let c: Cluster;
  let ctl: RunningController;
  let REF = '';
  let d1 = '';
  let d2 = '';

  beforeAll(async () => {
    c = await startCluster();
    REF = c.ref('acme/kv');
    d1 = await c.publish('acme/kv', { revision: 1, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    d2 = await c.publish('acme/kv', { revision: 2, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    // signed by an account the controller does not trust
    await c.publish('acme/kv', { revision: 3, issuerSeed: generateSeed('account'), capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    await c.publish('acme/kv', { revision: 4, capid: 'wascap:messaging', targets: ['x86_64-linux'] });
    for (let i = 1; i <= 5; i++) await c.addNode(`n${i}`, 'amd64');
    ctl = await startController({
      kubeConfig: c.controllerKc,
      namespace: NS,
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
      trustedIssuers: [c.issuer],
    });
  }, 30_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  /** Agents: start whatever is placed, after a short delay, and record the Ready count seen at each step. */
  async function watchRollout(provider: string, digest: string, desired: number) {
    let minReady = Infinity;
    let maxTotal = 0;
    await waitFor(
      `${provider} on ${digest}`,
      async () => {
        const l = await c.instances(provider);
        const ready = l.filter((i) => i.status?.phase === 'Running').length;
        minReady = Math.min(minReady, ready);
        maxTotal = Math.max(maxTotal, l.length);
        await c.markRunning(provider);
        return l.length === desired && l.every((i) => i.spec.archive.digest === digest && i.status?.phase === 'Running');
      },
      30_000,
      50,
    );
    return { minReady, maxTotal };
  }

  it('rolls 1 → 2 never below desired - maxUnavailable Ready, then rolls back the same way', async () => {
    await c.applyProvider('kv', { archive: { ref: REF, revision: 1 }, replicas: 3, rollout: { maxUnavailable: 1, maxSurge: 0 } });
    await watchRollout('kv', d1, 3);
    await waitFor(
      'rollout complete',
      async () => (await c.provider('kv')).status?.conditions?.find((x: any) => x.type === 'Progressing')?.reason === 'RolloutComplete',
    );
    await c.patchProvider('kv', { archive: { ref: REF, revision: 2 } });
    const up = await watchRollout('kv', d2, 3);
    expect(up.minReady).toBeGreaterThanOrEqual(2);
    expect(up.maxTotal).toBeLessThanOrEqual(3);
    const p = await waitFor('status on revision 2', async () => {
      const p = await c.provider('kv');
      return p.status?.resolved?.revision === 2 && p.status?.readyReplicas === 3 && p;
    });
    expect(p.status.conditions.find((x: any) => x.type === 'Ready').status).toBe('True');
    // rollback
    await c.patchProvider('kv', { archive: { ref: REF, revision: 1 } });
    const back = await watchRollout('kv', d1, 3);
    expect(back.minReady).toBeGreaterThanOrEqual(2);
    expect(back.maxTotal).toBeLessThanOrEqual(3);
  }, 90_000);

  it('a missing, untrusted or wrong-capability revision leaves the serving revision running and says why', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ archive: { ref: REF, revision: 9 } }, 'RevisionNotFound'],
      [{ archive: { ref: REF, revision: 3 } }, 'UntrustedIssuer'],
      [{ archive: { ref: REF, revision: 4 }, capabilityId: 'wascap:keyvalue' }, 'CapabilityMismatch'],
    ];
    for (const [spec, reason] of cases) {
      await c.patchProvider('kv', spec);
      const p = await waitFor(`Resolved=False ${reason}`, async () => {
        const p = await c.provider('kv');
        const r = p.status?.conditions?.find((x: any) => x.type === 'Resolved');
        return r?.status === 'False' && r.reason === reason && p;
      });
      expect(p.status.conditions.find((x: any) => x.type === 'Resolved').message).toContain('Still serving revision 1');
      expect(p.status.resolved.revision).toBe(1);
      const l = await c.instances('kv');
      expect(l).toHaveLength(3);
      expect(l.every((i) => i.spec.archive.digest === d1 && i.status?.phase === 'Running')).toBe(true);
      const ev = await waitFor(`${reason} event`, async () => (await c.events('kv')).find((e) => e.reason === reason));
      expect(ev.type).toBe('Warning');
    }
    await c.patchProvider('kv', { archive: { ref: REF, revision: 1 }, capabilityId: null });
    await waitFor(
      'Resolved=True again',
      async () => (await c.provider('kv')).status?.conditions?.find((x: any) => x.type === 'Resolved')?.status === 'True',
    );
  }, 60_000);

  it('rolls out with percentage budgets, and says why when both budgets are zero', async () => {
    // 4 replicas, maxUnavailable 50% → 2, maxSurge 25% → 1: never below 2 Ready nor above 5
    await c.applyProvider('pct', { archive: { ref: REF, revision: 1 }, replicas: 4, rollout: { maxUnavailable: '50%', maxSurge: '25%' } });
    await watchRollout('pct', d1, 4);
    await c.patchProvider('pct', { archive: { ref: REF, revision: 2 } });
    const up = await watchRollout('pct', d2, 4);
    expect(up.minReady).toBeGreaterThanOrEqual(2);
    expect(up.maxTotal).toBeLessThanOrEqual(5);
    // the API server refuses a malformed budget, naming the field
    const bad = await c.applyProvider('pct-bad', { archive: { ref: REF }, rollout: { maxUnavailable: '150%' } }).catch((e) => e);
    expect(String(bad?.body?.message ?? bad?.message)).toContain('spec.rollout.maxUnavailable');
    // both zero passes the schema but not the controller: InvalidSpec, and the instances stay
    await c.patchProvider('pct', { rollout: { maxUnavailable: 0, maxSurge: '0%' } });
    const p = await waitFor('InvalidSpec', async () => {
      const p = await c.provider('pct');
      const r = p.status?.conditions?.find((x: any) => x.type === 'Resolved');
      return r?.reason === 'InvalidSpec' && p;
    });
    expect(p.status.conditions.find((x: any) => x.type === 'Resolved').message).toContain('maxUnavailable and maxSurge cannot both be 0');
    expect(await c.instances('pct')).toHaveLength(4);
    await c.client.delete(`/apis/gantry.dev/v1alpha1/namespaces/apps/providers/pct`);
    await waitFor('no pct instances', async () => (await c.instances('pct')).length === 0);
  }, 60_000);

  it('a rollout that does not become ready turns Progressing false after the deadline', async () => {
    await c.applyProvider('slow', { archive: { ref: REF, revision: 1 }, replicas: 1, rollout: { progressDeadlineSeconds: 1 } });
    const p = await waitFor(
      'ProgressDeadlineExceeded',
      async () => {
        const p = await c.provider('slow');
        return p.status?.conditions?.find((x: any) => x.type === 'Progressing' && x.reason === 'ProgressDeadlineExceeded') && p;
      },
      10_000,
    );
    expect(p.status.conditions.find((x: any) => x.type === 'Progressing').status).toBe('False');
  });

  it('deleting a Provider removes every instance it owns', async () => {
    await c.client.delete(`/apis/gantry.dev/v1alpha1/namespaces/apps/providers/kv`);
    await waitFor('no kv instances', async () => (await c.instances('kv')).length === 0);
  });
});
