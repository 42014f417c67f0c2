import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startController, type RunningController } from '../../controller/index.js';
import { startCluster, waitFor, NS, APP, type Cluster } from './cluster.js';

const run = promisify(execFile);
const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };
const nodesOf = async (c: Cluster, p: string) => (await c.instances(p)).map((i) => i.spec.nodeName).sort();

describe('taints, nodeSelector, cordon, Daemon mode and kubectl scale', () => {
  let c: Cluster;
  let ctl: RunningController;
  let ref = '';

  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/echo');
    await c.publish('acme/echo', { revision: 1, targets: ['x86_64-linux', 'aarch64-linux'] });
    await c.addNode('plain-1', 'amd64', 'linux', { labels: { zone: 'a' } });
    await c.addNode('plain-2', 'arm64', 'linux', { labels: { zone: 'b' } });
    await c.addNode('gpu-1', 'amd64', 'linux', { labels: { zone: 'a' }, taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] });
    await c.addNode('noagent-1', 'amd64', 'linux', { labels: { zone: 'a' }, agent: false });
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

  it('skips tainted nodes unless tolerated, and honours nodeSelector', async () => {
    await c.applyProvider('plain', { archive: { ref }, replicas: 3 });
    await c.applyProvider('tolerant', {
      archive: { ref },
      replicas: 3,
      tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }],
    });
    await c.applyProvider('zoned', {
      archive: { ref },
      replicas: 3,
      nodeSelector: { zone: 'a' },
      tolerations: [{ key: 'gpu', operator: 'Exists' }],
    });
    await waitFor('plain on 2 nodes', async () => (await nodesOf(c, 'plain')).length === 2);
    expect(await nodesOf(c, 'plain')).toEqual(['plain-1', 'plain-2']);
    await waitFor('tolerant on 3 nodes', async () => (await nodesOf(c, 'tolerant')).length === 3);
    expect(await nodesOf(c, 'tolerant')).toEqual(['gpu-1', 'plain-1', 'plain-2']);
    await waitFor('zoned on 2 nodes', async () => (await nodesOf(c, 'zoned')).length === 2);
    expect(await nodesOf(c, 'zoned')).toEqual(['gpu-1', 'plain-1']);
    const p = await waitFor('plain Scheduled=False', async () => {
      const p = await c.provider('plain');
      return p.status?.conditions?.find((x: any) => x.type === 'Scheduled')?.status === 'False' && p;
    });
    const msg = p.status.conditions.find((x: any) => x.type === 'Scheduled').message;
    expect(msg).toContain('untolerated taint gpu=true:NoSchedule');
    expect(msg).toContain('no live Gantry agent');
    const z = (await c.provider('zoned')).status.conditions.find((x: any) => x.type === 'Scheduled').message;
    expect(z).toContain('does not match nodeSelector zone=a');
  });

  it('does not place on a cordoned node, and keeps what already runs there', async () => {
    await c.patchNode('plain-2', { spec: { unschedulable: true } });
    await c.applyProvider('after-cordon', { archive: { ref }, replicas: 2 });
    await waitFor(
      'after-cordon placed',
      async () => (await nodesOf(c, 'after-cordon')).length === 1 && (await c.provider('after-cordon')).status?.replicas === 1,
    );
    expect(await nodesOf(c, 'after-cordon')).toEqual(['plain-1']);
    expect(await nodesOf(c, 'plain')).toEqual(['plain-1', 'plain-2']);
    await c.patchNode('plain-2', { spec: { unschedulable: null } });
    await waitFor('after-cordon uses the uncordoned node', async () => (await nodesOf(c, 'after-cordon')).length === 2);
  });

  it('Daemon mode runs one instance on every eligible node, following nodes as they come', async () => {
    await c.applyProvider('daemon', { archive: { ref }, mode: 'Daemon' });
    await waitFor('daemon on 2 nodes', async () => (await nodesOf(c, 'daemon')).join() === 'plain-1,plain-2');
    await c.addNode('plain-3', 'arm64');
    await waitFor('daemon on the new node', async () => (await nodesOf(c, 'daemon')).join() === 'plain-1,plain-2,plain-3');
    await waitFor('status desired 3', async () => (await c.provider('daemon')).status?.desiredReplicas === 3);
  });

  it('kubectl scale provider/x --replicas=N scales up and down through the scale subresource', async () => {
    await c.applyProvider('scaled', { archive: { ref }, replicas: 1 });
    await waitFor('1 instance', async () => (await c.instances('scaled')).length === 1);
    const kubectl = async (...args: string[]) =>
      (await run('kubectl', ['--kubeconfig', c.api.kubeconfigPath, '-n', APP, ...args], { timeout: 30_000 })).stdout;
    expect(await kubectl('scale', 'provider/scaled', '--replicas=3')).toContain('scaled');
    await waitFor('3 instances', async () => (await c.instances('scaled')).length === 3);
    expect(new Set(await nodesOf(c, 'scaled')).size).toBe(3);
    await c.markRunning('scaled');
    await waitFor('ready 3', async () => (await c.provider('scaled')).status?.readyReplicas === 3);
    await kubectl('scale', 'prov/scaled', '--replicas=1');
    await waitFor('1 instance again', async () => (await c.instances('scaled')).length === 1);
    const st = await waitFor('status replicas 1', async () => {
      const p = await c.provider('scaled');
      return p.status?.replicas === 1 && p;
    });
    expect(st.status.selector).toBe('gantry.dev/provider=scaled');
    const table = await kubectl('get', 'providers', 'scaled');
    expect(table).toMatch(/CAPID\s+REVISION\s+DESIRED\s+READY\s+AUTOSCALE\s+AGE/);
  }, 90_000);
});
