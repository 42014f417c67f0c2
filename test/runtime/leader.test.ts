/**
 * Leader election in isolation (runtime/toolkit/leader.ts), on the API emulator's Lease: two
 * candidates never both lead, and a leader that cannot renew stops leading. Each check waits
 * for the standby's own election attempts (counted on its client) rather than for time, so
 * "the standby did not lead" is asserted after it has really tried.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../runtime/toolkit/leader.js';
import { KubeClient, isAlreadyExists } from '../../runtime/kube.js';
import { logger } from '../../runtime/log.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { waitFor } from '../controller/cluster.js';

const NS = 'gantry-system';
const LEASE = 'gantry-controller';
// the standby tries 10 times as often as the leader renews, so a standby that ignored a live
// holder would find the Lease unchanged between its read and its write, and take it
const leaderTiming = { leaseDurationMs: 4000, renewDeadlineMs: 1500, retryPeriodMs: 1000 };
const standbyTiming = { leaseDurationMs: 4000, renewDeadlineMs: 1500, retryPeriodMs: 100 };

interface Candidate {
  elector: LeaderElector;
  /** Every transition, in order: true = started leading, false = stopped. */
  transitions: boolean[];
  /** Lease reads this candidate completed (one per election attempt). */
  reads(): number;
  /** How many reads it had made each time it started leading. */
  ledAfterReads: number[];
}

describe('LeaderElector', () => {
  let api: TestApiServer;
  const clients: KubeClient[] = [];
  const candidates: Candidate[] = [];

  function candidate(
    identity: string,
    timing = leaderTiming,
    faults: { failRenewals?: number } = {},
    onLead?: (e: LeaderElector) => void,
  ): Candidate {
    const client = new KubeClient(api.kc);
    clients.push(client);
    let reads = 0;
    // the real client, with its Lease reads counted: the test's clock is the candidate's own attempts
    const observed = Object.create(client) as KubeClient;
    observed.get = async <T>(path: string, opts?: Parameters<KubeClient['get']>[1]) => {
      try {
        return await client.get<T>(path, opts);
      } finally {
        if (path.endsWith(`/leases/${LEASE}`)) reads++;
      }
    };
    // a transient fault: the next `faults.failRenewals` Lease writes fail as a server error would
    observed.replace = async <T>(path: string, obj: unknown, opts?: Parameters<KubeClient['replace']>[2]) => {
      if (path.endsWith(`/leases/${LEASE}`) && (faults.failRenewals ?? 0) > 0) {
        faults.failRenewals!--;
        throw Object.assign(new Error('injected: the API server answered 500'), { statusCode: 500 });
      }
      return client.replace<T>(path, obj, opts);
    };
    const transitions: boolean[] = [];
    const ledAfterReads: number[] = [];
    const elector = new LeaderElector({
      client: observed,
      namespace: NS,
      name: LEASE,
      identity,
      ...timing,
      log: logger('leader-test', { identity }),
      onStartedLeading: () => {
        transitions.push(true);
        ledAfterReads.push(reads);
        onLead?.(elector);
      },
      onStoppedLeading: () => transitions.push(false),
    });
    const c = { elector, transitions, reads: () => reads, ledAfterReads };
    candidates.push(c);
    return c;
  }

  beforeEach(async () => {
    api = await startTestApiServer();
    const client = new KubeClient(api.kc);
    try {
      await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    } finally {
      client.close();
    }
  });
  afterEach(async () => {
    for (const c of candidates.splice(0)) await c.elector.stop(false);
    for (const c of clients.splice(0)) c.close();
    await api?.stop();
  });

  it('a standby never leads while the leader renews: only one of two candidates leads, after the standby has tried 5 times', async () => {
    const a = candidate('ctl-a');
    a.elector.start();
    await waitFor('ctl-a leads', async () => a.elector.isLeader());
    expect(a.ledAfterReads).toEqual([1]); // no Lease yet: its first attempt creates it and leads
    const b = candidate('ctl-b', standbyTiming);
    b.elector.start();
    await waitFor('ctl-b tried 5 times', async () => b.reads() >= 5);
    expect(b.transitions).toEqual([]); // never led, not even for a moment
    expect(b.elector.isLeader()).toBe(false);
    expect(a.transitions).toEqual([true]); // and the leader never lost its term to it
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${LEASE}`;
    const lease = await clients[0].get(leasePath);
    expect(lease.spec).toMatchObject({ holderIdentity: 'ctl-a', leaseDurationSeconds: 4, leaseTransitions: 0 });
    expect(Date.parse(lease.spec.renewTime)).toBeGreaterThan(Date.now() - leaderTiming.leaseDurationMs);
    // a leader that steps down releases the Lease at once (no holder, already expired) …
    await a.elector.stop();
    expect(a.transitions).toEqual([true, false]);
    const released = await clients[0].get(leasePath);
    expect(released.spec.holderIdentity).toBe('');
    expect(Date.parse(released.spec.renewTime) + released.spec.leaseDurationSeconds * 1000).toBeLessThan(Date.now());
    // … so the standby takes over, as a new term
    await waitFor('ctl-b leads', async () => b.elector.isLeader());
    expect(b.transitions).toEqual([true]);
    // and a stopped candidate stops campaigning: no more reads while the standby makes 15
    // (at 100 ms apart at least, longer than ctl-a's 1 s retry period)
    const aReads = a.reads();
    const bReads = b.reads();
    await waitFor('ctl-b renewed 15 times', async () => b.reads() >= bReads + 15);
    expect(a.reads()).toBe(aReads);
    const taken = await clients[0].get(leasePath);
    expect(taken.spec).toMatchObject({ holderIdentity: 'ctl-b', leaseTransitions: 1 });
    expect(Date.parse(taken.spec.acquireTime)).toBeGreaterThan(Date.parse(lease.spec.renewTime));
  });

  it('takes a Lease whose holder stopped renewing as a new term, and not one whose holder is alive (renewTime, else acquireTime; duration defaults to 15 s)', async () => {
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
    const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');
    // a dead holder: renewed 10 s ago with a 4 s term
    const admin = new KubeClient(api.kc);
    clients.push(admin);
    await admin.create(leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NS },
      spec: { holderIdentity: 'dead', leaseDurationSeconds: 4, renewTime: micro(Date.now() - 10_000), leaseTransitions: 3 },
    });
    const a = candidate('ctl-a', standbyTiming);
    a.elector.start();
    await waitFor('ctl-a takes the expired Lease', async () => a.elector.isLeader());
    expect(a.ledAfterReads).toEqual([1]);
    expect((await admin.get(`${leases}/${LEASE}`)).spec).toMatchObject({ holderIdentity: 'ctl-a', leaseTransitions: 4 });
    await a.elector.stop(false);
    // an alive holder that only ever acquired (no renewTime) and no duration: 15 s from acquireTime
    const l = await admin.get(`${leases}/${LEASE}`);
    await admin.replace(`${leases}/${LEASE}`, {
      ...l,
      spec: { holderIdentity: 'alive', acquireTime: micro(Date.now() - 5_000), leaseTransitions: 5 },
    });
    const b = candidate('ctl-b', standbyTiming);
    b.elector.start();
    await waitFor('ctl-b tried 5 times', async () => b.reads() >= 5);
    expect(b.transitions).toEqual([]);
    expect((await admin.get(`${leases}/${LEASE}`)).spec.holderIdentity).toBe('alive');
  });

  it('a leader that cannot renew stops leading within its renew deadline, and the standby does not lead either', async () => {
    const a = candidate('ctl-a');
    a.elector.start();
    await waitFor('ctl-a leads', async () => a.elector.isLeader());
    const b = candidate('ctl-b', standbyTiming);
    b.elector.start();
    await waitFor('ctl-b tried', async () => b.reads() >= 2);
    await api.stop(); // no one can reach the Lease now
    const readsWhenCut = a.reads();
    await waitFor('ctl-a stopped leading', async () => !a.elector.isLeader(), 10_000);
    expect(a.transitions).toEqual([true, false]);
    expect(a.reads()).toBeGreaterThan(readsWhenCut); // it stopped because its renewals failed
    expect(b.transitions).toEqual([]);
  });

  const leases = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
  const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');
  function admin(): KubeClient {
    const c = new KubeClient(api.kc);
    clients.push(c);
    return c;
  }

  it('a leader keeps leading through its own renewals, and writes MicroTime stamps (microseconds, Z)', async () => {
    const a = candidate('ctl-a', standbyTiming);
    a.elector.start();
    await waitFor('ctl-a leads', async () => a.elector.isLeader());
    await waitFor('ctl-a renewed 5 times', async () => a.reads() >= 5);
    expect(a.transitions).toEqual([true]);
    const spec = (await admin().get(`${leases}/${LEASE}`)).spec;
    expect(spec.holderIdentity).toBe('ctl-a');
    expect(spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('takes at once a Lease that names no holder, or has no spec at all, however fresh', async () => {
    const adm = admin();
    await adm.create(leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NS },
      spec: { holderIdentity: '', leaseDurationSeconds: 600, renewTime: micro(Date.now()), leaseTransitions: 2 },
    });
    const a = candidate('ctl-a', standbyTiming);
    a.elector.start();
    await waitFor('ctl-a takes the free Lease', async () => a.elector.isLeader());
    expect(a.ledAfterReads).toEqual([1]);
    expect((await adm.get(`${leases}/${LEASE}`)).spec).toMatchObject({ holderIdentity: 'ctl-a', leaseTransitions: 3 });
    await a.elector.stop(false);
    const l = await adm.get(`${leases}/${LEASE}`);
    const { spec: _dropped, ...bare } = l;
    await adm.replace(`${leases}/${LEASE}`, bare);
    const b = candidate('ctl-b', standbyTiming);
    b.elector.start();
    await waitFor('ctl-b takes the Lease without a spec', async () => b.elector.isLeader());
    expect(b.ledAfterReads).toEqual([1]);
    expect((await adm.get(`${leases}/${LEASE}`)).spec).toMatchObject({ holderIdentity: 'ctl-b', leaseTransitions: 1 });
  });

  it('a renewal that fails once within the renew deadline does not cost the term', async () => {
    const faults = { failRenewals: 0 };
    const a = candidate('ctl-a', { leaseDurationMs: 10_000, renewDeadlineMs: 5_000, retryPeriodMs: 300 }, faults);
    a.elector.start();
    await waitFor('ctl-a leads', async () => a.elector.isLeader());
    await waitFor('ctl-a renewed', async () => a.reads() >= 2);
    faults.failRenewals = 1;
    await waitFor('the renewal failed', async () => faults.failRenewals === 0);
    const after = a.reads();
    await waitFor('ctl-a renewed twice more', async () => a.reads() >= after + 2);
    expect(a.transitions).toEqual([true]);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('stop(false) steps down without releasing the Lease (a standby waits for it to expire)', async () => {
    const a = candidate('ctl-a', { leaseDurationMs: 60_000, renewDeadlineMs: 30_000, retryPeriodMs: 60_000 });
    a.elector.start();
    await waitFor('ctl-a leads', async () => a.elector.isLeader());
    await a.elector.stop(false);
    expect(a.transitions).toEqual([true, false]);
    expect((await admin().get(`${leases}/${LEASE}`)).spec.holderIdentity).toBe('ctl-a');
  });

  it("a leader that stops after another took the Lease does not release the other's term", async () => {
    // a retry period longer than the test: ctl-a never looks again after its first attempt
    const a = candidate('ctl-a', { leaseDurationMs: 60_000, renewDeadlineMs: 30_000, retryPeriodMs: 60_000 });
    a.elector.start();
    await waitFor('ctl-a leads', async () => a.elector.isLeader());
    const adm = admin();
    const l = await adm.get(`${leases}/${LEASE}`);
    await adm.replace(`${leases}/${LEASE}`, {
      ...l,
      spec: { ...l.spec, holderIdentity: 'ctl-other', renewTime: micro(Date.now()), leaseTransitions: 1 },
    });
    await a.elector.stop();
    expect((await adm.get(`${leases}/${LEASE}`)).spec).toMatchObject({ holderIdentity: 'ctl-other', leaseTransitions: 1 });
  });

  it('a candidate stopped while its attempt is in flight does not campaign again', async () => {
    // stop() from inside the attempt that made it leader: that attempt's end must not schedule another
    let stopped: Promise<void> | undefined;
    const a = candidate('ctl-a', standbyTiming, {}, (e) => {
      stopped = e.stop(false);
    });
    a.elector.start();
    await waitFor('ctl-a led and stopped', async () => stopped !== undefined);
    await stopped;
    const b = candidate('ctl-b', standbyTiming);
    b.elector.start();
    // 15 attempts of ctl-b, 100 ms apart at least: ctl-a, with the same period, would have tried again
    await waitFor('ctl-b tried 15 times', async () => b.reads() >= 15);
    expect(a.reads()).toBe(1); // the one read that found no Lease; it never came back
    expect(a.transitions).toEqual([true, false]);
  });
});
