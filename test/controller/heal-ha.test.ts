import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { isNotFound } from '../../runtime/kube.js';
import { startController, type RunningController } from '../../controller/index.js';
import { startCluster, waitFor, NS, type Cluster } from './cluster.js';

const GRACE_MS = 1500;
const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 };

describe('heal and high availability', () => {
  let c: Cluster;
  const controllers: RunningController[] = [];
  let REF = '';
  let d2 = '';
  const alive = new Set<string>();
  let beat: NodeJS.Timeout;

  const start = (identity: string) =>
    startController({
      kubeConfig: c.controllerKc,
      namespace: NS,
      trustedIssuers: [c.issuer],
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
      agentLeaseGraceMs: GRACE_MS,
      identity,
    }).then((x) => {
      controllers.push(x);
      return x;
    });

  beforeAll(async () => {
    c = await startCluster();
    REF = c.ref('acme/echo');
    await c.publish('acme/echo', { revision: 1, targets: ['x86_64-linux'] });
    d2 = await c.publish('acme/echo', { revision: 2, targets: ['x86_64-linux'] });
    for (let i = 1; i <= 6; i++) {
      await c.addNode(`h${i}`, 'amd64');
      alive.add(`h${i}`);
    }
    // the agents: renew their Leases while alive
    beat = setInterval(() => {
      for (const n of alive) c.heartbeat(n).catch(() => {});
    }, 300);
  }, 30_000);
  // each test starts from six Ready nodes with live agents and no Providers, whatever the one
  // before it deleted, killed or left behind
  beforeEach(async () => {
    for (let i = 1; i <= 6; i++) {
      const n = `h${i}`;
      try {
        await c.client.get(`/api/v1/nodes/${n}`);
        await c.setNodeReady(n, true);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await c.addNode(n, 'amd64');
      }
      await c.heartbeat(n);
      alive.add(n);
    }
  });
  afterEach(async () => {
    for (const x of controllers.splice(0)) await x.stop();
    for (const p of (await c.client.list('/apis/gantry.dev/v1alpha1/namespaces/apps/providers')).items) {
      await c.client.delete(`/apis/gantry.dev/v1alpha1/namespaces/apps/providers/${p.metadata.name}`).catch(() => {});
    }
    // the controllers are stopped and a real API server has no garbage collector here (no
    // kube-controller-manager): remove what is left directly, finalizers included
    const instances = '/apis/gantry.dev/v1alpha1/namespaces/apps/providerinstances';
    for (const i of (await c.client.list(instances)).items) {
      await c.client.mergePatch(`${instances}/${i.metadata.name}`, { metadata: { finalizers: null } }).catch(() => {});
      await c.client.delete(`${instances}/${i.metadata.name}`).catch(() => {});
    }
    await waitFor('instances removed', async () => (await c.client.list(instances)).items.length === 0);
  });
  afterAll(async () => {
    clearInterval(beat);
    for (const x of controllers) await x.stop();
    await c?.stop();
  });

  it('replaces instances on a deleted node and on a node whose agent stopped renewing, within grace + 5 s', async () => {
    const ctl = await start('solo');
    await c.applyProvider('healme', { archive: { ref: REF }, replicas: 2 });
    const first = await waitFor('2 placed', async () => {
      const l = await c.instances('healme');
      return l.length === 2 && l;
    });
    await c.markRunning('healme');
    // node loss
    const lostNode = first[0].spec.nodeName;
    alive.delete(lostNode);
    const t0 = Date.now();
    await c.deleteNode(lostNode);
    await waitFor(
      'replacement for deleted node',
      async () => {
        const l = await c.instances('healme');
        return l.length === 2 && l.every((i) => i.spec.nodeName !== lostNode);
      },
      GRACE_MS + 5000,
      50,
    );
    expect(Date.now() - t0).toBeLessThan(GRACE_MS + 5000);
    await c.markRunning('healme');
    // agent loss: the lease stops being renewed
    const cur = await c.instances('healme');
    const agentNode = cur[0].spec.nodeName;
    alive.delete(agentNode);
    const t1 = Date.now();
    await waitFor(
      'replacement for lost agent',
      async () => {
        const l = await c.instances('healme');
        return l.length === 2 && l.every((i) => i.spec.nodeName !== agentNode);
      },
      GRACE_MS + 5000,
      50,
    );
    expect(Date.now() - t1).toBeLessThan(GRACE_MS + 5000);
    const ev = await waitFor('InstancesReplaced event', async () =>
      (await c.events('healme')).find((e) => e.reason === 'InstancesReplaced'),
    );
    expect(ev.message).toMatch(/NodeDeleted|AgentLost/);
    // NotReady node
    await c.markRunning('healme');
    const nr = (await c.instances('healme'))[0].spec.nodeName;
    await c.setNodeReady(nr, false);
    await waitFor(
      'replacement for NotReady node',
      async () => {
        const l = await c.instances('healme');
        return l.length === 2 && l.every((i) => i.spec.nodeName !== nr);
      },
      5000,
      50,
    );
    await c.setNodeReady(nr, true);
    // a failed instance is replaced
    const failed = (await c.instances('healme'))[0];
    await c.client.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/apps/providerinstances/${failed.metadata.name}/status`, {
      status: { phase: 'Failed', restartCount: 5, reason: 'CrashLoop' },
    });
    const replaced = await waitFor(
      'failed one replaced',
      async () => {
        const l = await c.instances('healme');
        return l.length === 2 && !l.some((i) => i.metadata.name === failed.metadata.name) && l;
      },
      5000,
      50,
    );
    // the replacement keeps away from the node that just failed it
    expect(replaced.map((i: any) => i.spec.nodeName)).not.toContain(failed.spec.nodeName);
    await ctl.stop();
  }, 60_000);

  it('fails over to a standby within 20 s, and a controller killed mid-rollout is succeeded with no lost or duplicate instances', async () => {
    const a = await start('ctl-a');
    await waitFor('a leads', async () => a.isLeader(), 5000);
    // that a standby never leads beside a live leader is shown in isolation in leader.test.ts
    // (asserted here right after start, it would hold before b had even tried)
    const b = await start('ctl-b');
    await c.applyProvider('ha', { archive: { ref: REF, revision: 1 }, replicas: 3, rollout: { maxUnavailable: 1 } });
    await waitFor('3 placed', async () => (await c.instances('ha')).length === 3);
    await c.markRunning('ha');
    await waitFor('ha ready', async () => (await c.provider('ha')).status?.readyReplicas === 3);
    // start a rollout, let it take its first step, then "kill" the leader (its Lease stays held)
    await c.patchProvider('ha', { archive: { ref: REF, revision: 2 } });
    await waitFor('first step of the rollout', async () => (await c.instances('ha')).some((i) => i.spec.archive.digest === d2));
    const killedAt = Date.now();
    await a.stop({ releaseLease: false });
    await waitFor('b takes over', async () => b.isLeader(), 20_000, 50);
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    // agents keep starting what is placed; the rollout must finish under b
    await waitFor(
      'rollout converges under b',
      async () => {
        await c.markRunning('ha');
        const l = await c.instances('ha');
        return l.length === 3 && l.every((i) => i.spec.archive.digest === d2 && i.status?.phase === 'Running');
      },
      20_000,
      100,
    );
    const l = await c.instances('ha');
    expect(new Set(l.map((i) => i.spec.nodeName)).size).toBe(3);
    // and a restarted controller, once it leads from cold caches, adds nothing
    const a2 = await start('ctl-a');
    await b.stop();
    await waitFor('restarted a leads', async () => a2.isLeader(), 20_000, 50);
    await a2.idle();
    const after = await c.instances('ha');
    expect(after.map((i) => i.metadata.name).sort()).toEqual(l.map((i) => i.metadata.name).sort());
  }, 60_000);
});
