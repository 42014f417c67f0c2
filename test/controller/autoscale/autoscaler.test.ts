/**
 * The autoscaler with real parts: the real controller (running as deploy/base's ServiceAccount on
 * the real API server), a real nats-server with the membrane, and load reports published on the
 * bus by each instance's own host user (hostPermissions: the wire contract of client/load.ts; the
 * hosts themselves are not needed to say what load they carry). Rising load scales spec.replicas
 * up through the scale subresource with an Event, the `Autoscaling` condition and
 * status.autoscale; no load brings it back down after the stabilization window and to zero
 * after scaleToZeroAfterSeconds; an activation brings it to 1. Malformed reports and reports
 * naming another instance are counted and dropped.
 */
import { connect, jwtAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityGrantCrd } from '../../../api/index.js';
import { grantsPath } from '../../../controller/grants/reconcile.js';
import { encodeLoadReport, type LoadReport, loadSubject } from '../../../client/load.js';
import { inboxPrefix } from '../../../client/protocol.js';
import type { RunningController } from '../../../controller/index.js';
import { hostPermissions } from '../../../membrane/permissions.js';
import { type MembraneNats, startMembraneNats } from '../../support/nats.js';
import { APP, type Cluster, startCluster, startClusterController, waitFor } from '../cluster.js';

/** One instance's host, as far as its load reports go: cumulative counters from a level of calls in flight. */
class HostReports {
  private calls = 0;
  private busyMs = 0;
  private last = Date.now();
  private readonly startedAt = Date.now();
  inFlight = 0;
  constructor(
    readonly instance: string,
    readonly nc: NatsConnection,
  ) {}
  report(): void {
    const now = Date.now();
    const dt = now - this.last;
    this.last = now;
    this.busyMs += this.inFlight * dt;
    // a call takes 100 ms: in flight f means 10·f calls a second
    this.calls += Math.round((this.inFlight * dt) / 100);
    const r: LoadReport = {
      v: 1,
      instance: this.instance,
      at: now,
      startedAt: this.startedAt,
      calls: this.calls,
      overloaded: 0,
      inFlight: this.inFlight,
      busyMs: this.busyMs,
      serving: true,
    };
    this.nc.publish(loadSubject(APP, 'auto', this.instance), encodeLoadReport(r));
  }
}

describe('the autoscaler', () => {
  let c: Cluster;
  let nats: MembraneNats;
  let ctl: RunningController;
  let ref = '';
  const hosts = new Map<string, HostReports>();
  let ticker: NodeJS.Timeout | undefined;

  /** A bus connection as the host of `instance` (only its own load subject is open to it). */
  async function hostConnection(instance: string): Promise<NatsConnection> {
    const u = nats.authority.mintUser(`host-${instance}`, (k) => hostPermissions(k, { namespace: APP, provider: 'auto', instance }));
    return connect({
      servers: nats.url,
      inboxPrefix: inboxPrefix(u.userKey),
      authenticator: jwtAuthenticator(u.jwt, new TextEncoder().encode(u.seed!)),
    });
  }

  /** Every instance of `auto` reports every 200 ms; `perInstance` is the in-flight level each carries. */
  async function load(perInstance: number): Promise<void> {
    for (const i of await c.instances('auto')) {
      const name = i.metadata.name as string;
      if (!hosts.has(name)) hosts.set(name, new HostReports(name, await hostConnection(name)));
    }
    for (const h of hosts.values()) h.inFlight = perInstance;
  }

  const replicas = async () => (await c.provider('auto')).spec.replicas as number;
  const reasons = async () => (await c.events('auto')).map((e) => e.reason as string);

  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/auto');
    await c.publish('acme/auto', { revision: 1, targets: ['x86_64-linux'] });
    for (let i = 1; i <= 2; i++) await c.addNode(`a${i}`, 'amd64');
    // the membrane's controller also reconciles CapabilityGrants
    await c.client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', capabilityGrantCrd());
    await waitFor('CapabilityGrants served', async () => !!(await c.client.list(grantsPath(APP))));
    nats = await startMembraneNats();
    ctl = await startClusterController(c, {
      kubeConfig: c.controllerKc,
      membrane: { authority: nats.authority, servers: nats.url },
      autoscaleIntervalMs: 200,
      autoscaleWindowMs: 2000,
    });
    ticker = setInterval(() => {
      for (const h of hosts.values()) h.report();
    }, 200);
  }, 60_000);
  afterAll(async () => {
    clearInterval(ticker);
    for (const h of hosts.values()) await h.nc.close();
    await ctl?.stop();
    await nats?.stop();
    await c?.stop();
  });

  it('scales up with the load through the scale subresource, with an Event, the condition and status.autoscale', async () => {
    await c.applyProvider('auto', {
      archive: { ref, revision: 1 },
      replicas: 1,
      allowMultiplePerNode: true,
      autoscale: {
        minReplicas: 0,
        maxReplicas: 4,
        targetInFlightPerInstance: 2,
        scaleDownStabilizationSeconds: 2,
        scaleToZeroAfterSeconds: 8,
      },
    });
    await waitFor('the first instance', async () => (await c.instances('auto')).length === 1);
    await load(7); // one instance carrying 7 in flight: ceil(7 / 2) = 4
    await waitFor('4 replicas', async () => (await replicas()) === 4, 20_000);
    const p = await c.provider('auto');
    expect(p.status.autoscale.desiredReplicas).toBe(4);
    expect(p.status.autoscale.lastScaleTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(Number(p.status.autoscale.inFlight)).toBeGreaterThan(0);
    expect(p.status.conditions.find((x: any) => x.type === 'Autoscaling')).toMatchObject({ status: 'True' });
    const up = await waitFor('the ScaledUp event', async () => (await c.events('auto')).find((e) => e.reason === 'ScaledUp'));
    expect(up.message).toMatch(/in flight \(target 2 per instance\): 1 → 4$/);
    expect(await ctl.metrics.autoscaleScales.get().then((m) => m.values.find((v) => v.labels.reason === 'ScaledUp')?.value)).toBe(1);
    await waitFor('4 instances', async () => (await c.instances('auto')).length === 4);
  }, 60_000);

  it('comes back down when the load ends, after the stabilization window, then to zero after scaleToZeroAfterSeconds', async () => {
    await load(0);
    await waitFor('1 replica', async () => (await replicas()) === 1, 20_000);
    expect(await reasons()).toContain('ScaledDown');
    await waitFor('0 replicas', async () => (await replicas()) === 0, 20_000);
    const p = await c.provider('auto');
    expect(p.status.autoscale).toMatchObject({ desiredReplicas: 0, reason: 'ScaledToZero' });
    expect(await reasons()).toContain('ScaledToZero');
    await waitFor('no instance', async () => (await c.instances('auto')).length === 0);
  }, 60_000);

  it('an activation brings it to 1 at once, naming the caller', async () => {
    const caller = createUser().getPublicKey();
    expect(await ctl.autoscaler.activate(APP, 'auto', caller)).toEqual({ ok: true, provider: 'auto' });
    expect(await replicas()).toBe(1);
    // the next decision (every 200 ms here) may already have replaced the reason: the Event stays
    expect((await c.provider('auto')).status.autoscale.desiredReplicas).toBe(1);
    const e = await waitFor('the Activated event', async () => (await c.events('auto')).find((x) => x.reason === 'Activated'));
    expect(e.message).toBe(`activated from zero by a call of ${caller}`);
    // above zero: nothing to do
    expect(await ctl.autoscaler.activate(APP, 'auto', caller)).toEqual({ ok: true, provider: 'auto' });
  });

  it('refuses to activate what is not there or not autoscaled', async () => {
    await c.applyProvider('fixed', { archive: { ref, revision: 1 }, replicas: 0 });
    await c.applyProvider('paused', {
      archive: { ref, revision: 1 },
      replicas: 0,
      paused: true,
      autoscale: { minReplicas: 0, maxReplicas: 2, targetCallsPerSecondPerInstance: 10 },
    });
    await waitFor('both in the cache', async () => {
      const [a, b] = await Promise.all([ctl.autoscaler.activate(APP, 'fixed', 'U'), ctl.autoscaler.activate(APP, 'paused', 'U')]);
      return a.ok === false && a.code !== 'NOT_FOUND' && b.ok === false && b.code !== 'NOT_FOUND' && [a, b];
    });
    expect(await ctl.autoscaler.activate(APP, 'nothing', 'U')).toEqual({
      ok: false,
      code: 'NOT_FOUND',
      message: `Provider ${APP}/nothing does not exist`,
    });
    expect(await ctl.autoscaler.activate(APP, 'fixed', 'U')).toEqual({
      ok: false,
      code: 'NOT_ACTIVATABLE',
      message: `Provider ${APP}/fixed has no spec.autoscale`,
    });
    expect(await ctl.autoscaler.activate(APP, 'paused', 'U')).toMatchObject({ ok: false, code: 'NOT_ACTIVATABLE' });
    expect((await c.provider('fixed')).spec.replicas).toBe(0);
  });

  it('an autoscale spec with two targets is refused with its reason, and nothing is scaled', async () => {
    const autoscale = { maxReplicas: 3, targetInFlightPerInstance: 2, targetCallsPerSecondPerInstance: 10 };
    await c.applyProvider('two-targets', { archive: { ref, revision: 1 }, replicas: 2, autoscale });
    const cond = await waitFor('Autoscaling=False', async () =>
      ((await c.provider('two-targets')).status?.conditions ?? []).find((x: any) => x.type === 'Autoscaling'),
    );
    expect(cond).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: 'autoscale names exactly one target: targetInFlightPerInstance or targetCallsPerSecondPerInstance',
    });
    expect((await c.provider('two-targets')).spec.replicas).toBe(2);
  });

  it('counts and drops a malformed report, and one naming another instance than its subject', async () => {
    const [name] = [...hosts.keys()];
    const nc = hosts.get(name)!.nc;
    const count = async (result: string) =>
      (await ctl.metrics.loadReports.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    const before = { malformed: await count('malformed'), foreign: await count('foreign-instance') };
    nc.publish(loadSubject(APP, 'auto', name), new TextEncoder().encode('{"v":1,"instance":'));
    const other: LoadReport = {
      v: 1,
      instance: 'someone-else',
      at: Date.now(),
      startedAt: 0,
      calls: 1e9,
      overloaded: 0,
      inFlight: 1e6,
      busyMs: 0,
      serving: true,
    };
    nc.publish(loadSubject(APP, 'auto', name), encodeLoadReport(other));
    await nc.flush();
    await waitFor(
      'both counted',
      async () => (await count('malformed')) > before.malformed && (await count('foreign-instance')) > before.foreign,
    );
    expect(ctl.loadStore.figures(APP, 'auto')?.inFlight ?? 0).toBeLessThan(1e6);
  });
});
