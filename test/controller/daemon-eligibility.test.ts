/**
 * Daemon mode follows nodes as they stop qualifying, not only as they come: a node that is
 * tainted NoSchedule, relabelled out of the nodeSelector, or cordoned loses its daemon instance
 * (reason NodeIneligible), while the daemon keeps running everywhere else. NoSchedule is the
 * point — it does not evict anything in Spread mode, so only the Daemon-mode heal removes the
 * instance. Every step waits for the controller's own write, then checks the whole set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../controller/index.js';
import { startCluster, startClusterController, waitFor, type Cluster } from './cluster.js';

const nodesOf = async (c: Cluster, p: string) =>
  (await c.instances(p))
    .map((i) => i.spec.nodeName)
    .sort()
    .join();

describe('Daemon mode when a node stops qualifying', () => {
  let c: Cluster;
  let ctl: RunningController;

  beforeAll(async () => {
    c = await startCluster();
    await c.publish('acme/daemon', { revision: 1, targets: ['x86_64-linux'] });
    for (const n of ['e1', 'e2', 'e3', 'e4']) await c.addNode(n, 'amd64', 'linux', { labels: { role: 'edge' } });
    ctl = await startClusterController(c);
    await c.applyProvider('edge', { archive: { ref: c.ref('acme/daemon') }, mode: 'Daemon', nodeSelector: { role: 'edge' } });
    // a Spread Provider alongside: the same node changes must leave its instances alone
    await c.applyProvider('spread', { archive: { ref: c.ref('acme/daemon') }, replicas: 4 });
    await waitFor('daemon on every edge node', async () => (await nodesOf(c, 'edge')) === 'e1,e2,e3,e4');
    await waitFor('spread on every node', async () => (await nodesOf(c, 'spread')) === 'e1,e2,e3,e4');
    await c.markRunning('edge');
    await c.markRunning('spread');
  }, 30_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('removes the instance from a node tainted NoSchedule, relabelled out of the nodeSelector, or cordoned — and only there; back when they qualify again', async () => {
    await c.patchNode('e1', { spec: { taints: [{ key: 'maintenance', value: 'true', effect: 'NoSchedule' }] } });
    await waitFor('gone from the tainted node', async () => (await nodesOf(c, 'edge')) === 'e2,e3,e4');
    await c.patchNode('e2', { metadata: { labels: { role: 'core' } } });
    await waitFor('gone from the relabelled node', async () => (await nodesOf(c, 'edge')) === 'e3,e4');
    await c.patchNode('e3', { spec: { unschedulable: true } });
    await waitFor('gone from the cordoned node', async () => (await nodesOf(c, 'edge')) === 'e4');
    const p = await waitFor('desired follows', async () => {
      const p = await c.provider('edge');
      return p.status?.desiredReplicas === 1 && p;
    });
    expect(p.status.desiredReplicas).toBe(1);
    const removed = (await c.events('edge'))
      .filter((e) => e.reason === 'InstancesReplaced')
      .map((e) => e.message)
      .join(' ');
    for (const n of ['e1', 'e2', 'e3']) expect(removed).toContain(`${n}: NodeIneligible`);
    // none of these changes evicts anything: the Spread Provider still runs on all four
    expect(await nodesOf(c, 'spread')).toBe('e1,e2,e3,e4');
    // and it comes back to each node once it qualifies again
    await c.patchNode('e1', { spec: { taints: null } });
    await c.patchNode('e2', { metadata: { labels: { role: 'edge' } } });
    await c.patchNode('e3', { spec: { unschedulable: null } });
    await waitFor('daemon back on every edge node', async () => (await nodesOf(c, 'edge')) === 'e1,e2,e3,e4');
  });
});
