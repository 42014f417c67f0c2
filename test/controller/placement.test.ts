import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startController, type RunningController } from '../../controller/index.js';
import { startCluster, waitFor, NS, type Cluster } from './cluster.js';

const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

describe('placement on the emulator', () => {
  let c: Cluster;
  let ctl: RunningController;
  let digest = '';

  beforeAll(async () => {
    c = await startCluster();
    digest = await c.publish('acme/kv', { revision: 1, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    await c.addNode('amd-1', 'amd64');
    await c.addNode('amd-2', 'amd64');
    await c.addNode('arm-1', 'arm64');
    await c.addNode('arm-2', 'arm64');
    await c.addNode('arm-3', 'arm64');
    await c.addNode('win-1', 'amd64', 'windows');
    ctl = await startController({
      kubeConfig: c.controllerKc,
      namespace: NS,
      trustedIssuers: [c.issuer],
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
    });
  }, 30_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('places instances only on amd64/linux nodes and explains the others in an Event and the Scheduled condition', async () => {
    await c.applyProvider('kv', { archive: { ref: c.ref('acme/kv') }, replicas: 4 });
    const insts = await waitFor('2 instances', async () => {
      const l = await c.instances('kv');
      return l.length === 2 && l;
    });
    expect(insts.map((i) => i.spec.nodeName).sort()).toEqual(['amd-1', 'amd-2']);
    expect(insts.every((i) => i.spec.target === 'x86_64-linux' && i.spec.archive.digest === digest)).toBe(true);
    expect(insts[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Provider', name: 'kv', controller: true });
    expect(insts[0].metadata.labels['gantry.dev/node']).toBe(insts[0].spec.nodeName);
    const p = await waitFor('Scheduled=False', async () => {
      const p = await c.provider('kv');
      return p.status?.conditions?.find((x: any) => x.type === 'Scheduled' && x.status === 'False') && p;
    });
    const sched = p.status.conditions.find((x: any) => x.type === 'Scheduled');
    expect(sched.reason).toBe('Unschedulable');
    expect(sched.message).toContain('3 nodes arm64/linux: archive has no aarch64-linux binary');
    expect(sched.message).toContain('1 node amd64/windows: archive has no x86_64-windows binary');
    expect(p.status.resolved).toMatchObject({ revision: 1, digest, capid: 'wascap:keyvalue', issuer: c.issuer, targets: ['x86_64-linux'] });
    expect(p.status.selector).toBe('gantry.dev/provider=kv');
    const ev = await waitFor('FailedScheduling event', async () => (await c.events('kv')).find((e) => e.reason === 'FailedScheduling'));
    expect(ev.type).toBe('Warning');
    expect(ev.message).toContain('3 nodes arm64/linux: archive has no aarch64-linux binary');
    // agents report Running → Ready counts
    await c.markRunning('kv');
    await waitFor('readyReplicas 2', async () => (await c.provider('kv')).status?.readyReplicas === 2);
    expect(ctl.isLeader()).toBe(true);
  });
});
