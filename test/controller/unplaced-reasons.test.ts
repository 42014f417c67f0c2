/**
 * The `Scheduled` condition names every node group's reason, as the scheduler saw it (the
 * controller runs it once and reports its summary as is): nodes that already run an instance
 * and nodes an instance just failed on are reasons too, not silently missing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { RunningController } from '../../controller/index.js';
import { startCluster, startClusterController, stopAll, waitFor, APP, type Cluster } from './cluster.js';

const scheduled = async (c: Cluster, name: string) => (await c.provider(name)).status?.conditions?.find((x: any) => x.type === 'Scheduled');

describe('why replicas cannot be placed, node group by node group', () => {
  let c: Cluster;
  let ctl: RunningController;
  let ref = '';
  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/echo');
    await c.publish('acme/echo', { revision: 1, targets: ['x86_64-linux'] });
    for (const n of ['n1', 'n2', 'n3']) await c.addNode(n, 'amd64');
    ctl = await startClusterController(c);
  }, 30_000);
  afterAll(() => stopAll(ctl, c));

  it('after an instance fails on one node, names that node and the two that already run one', async () => {
    await c.applyProvider('failing', { archive: { ref }, replicas: 3 });
    await waitFor('3 instances', async () => (await c.instances('failing')).length === 3);
    await c.markRunning('failing');
    const victim = (await c.instances('failing')).find((i: any) => i.spec.nodeName === 'n1');
    await c.client.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances/${victim.metadata.name}/status`, {
      status: { phase: 'Failed', message: 'test' },
    });
    const cond = await waitFor('Scheduled=False', async () => {
      const s = await scheduled(c, 'failing');
      return s?.status === 'False' && s;
    });
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe(
      '1 of 3 replicas cannot be placed: 2 nodes amd64/linux: already runs an instance of this Provider; 1 node amd64/linux: an instance failed here recently',
    );
  });

  it('with one agent killed, names the node without a live agent and the two nodes that already run an instance', async () => {
    await c.applyProvider('spread', { archive: { ref }, replicas: 3 });
    await waitFor('3 instances', async () => (await c.instances('spread')).length === 3);
    await c.markRunning('spread');
    await waitFor('Scheduled=True', async () => (await scheduled(c, 'spread'))?.status === 'True');
    await c.heartbeat('n3', new Date(Date.now() - 3_600_000)); // the agent on n3 stopped renewing long ago
    await waitFor('instance on n3 replaced away', async () => !(await c.instances('spread')).some((i: any) => i.spec.nodeName === 'n3'));
    const cond = await waitFor('Scheduled=False', async () => {
      const s = await scheduled(c, 'spread');
      return s?.status === 'False' && s;
    });
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe(
      '1 of 3 replicas cannot be placed: 2 nodes amd64/linux: already runs an instance of this Provider; 1 node amd64/linux: no live Gantry agent',
    );
    const ev = await waitFor('FailedScheduling event', async () =>
      (await c.events('spread')).find((e: any) => e.reason === 'FailedScheduling'),
    );
    expect(ev.message).toBe(cond.message);
  });

  it('in steady state, Scheduled=True lists only the nodes skipped for what they are', async () => {
    await c.heartbeat('n3'); // the agent is back
    const cond = await waitFor('Scheduled=True again', async () => {
      const s = await scheduled(c, 'spread');
      return s?.status === 'True' && s;
    });
    expect(cond.message).toBe('');
    await c.addNode('arm-1', 'arm64');
    // addNode creates the Node, then marks it Ready in a second write: a reconcile between the two
    // rightly says "not Ready", so wait for the message about the node as it ends up
    // (a message that names the node for anything else is that in-between state, not the end)
    const later = await waitFor('arm node skipped for its architecture', async () => {
      const s = await scheduled(c, 'spread');
      return s?.message?.includes('arm64/linux: archive has no') && s;
    });
    expect(later.message).toBe('other nodes skipped: 1 node arm64/linux: archive has no aarch64-linux binary');
  });
});
