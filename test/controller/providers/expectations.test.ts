/**
 * Creation expectations in isolation (controller/instance-index.ts, used by the reconciler's
 * InstanceWriter): a reconcile that runs again before the watch has delivered the instances it
 * just created must see them anyway, or it places every replica twice. Here the watch never
 * delivers at all (no informer feeds the index), so only the expectations can prevent it; the
 * writes go to the API emulator, which counts what was really created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiVersion, labels, providerCrd, providerInstanceCrd, type ProviderInstance } from '../../../api/index.js';
import { InstanceIndex } from '../../../controller/providers/instance-index.js';
import { Limiter } from '../../../runtime/toolkit/limiter.js';
import { ControllerMetrics } from '../../../controller/metrics.js';
import { instancesPath, InstanceWriter } from '../../../controller/providers/writes.js';
import { schedulePhase } from '../../../controller/providers/schedule.js';
import { planRollout } from '../../../controller/providers/rollout.js';
import { nodeView, type NodeView } from '../../../controller/providers/scheduling/nodes.js';
import { KubeClient, isAlreadyExists } from '../../../runtime/kube.js';
import { startTestApiServer, type TestApiServer } from '../../support/apiserver.js';
import { waitFor } from '../cluster.js';

const NS = 'apps';
const DIGEST = 'sha256:' + 'a'.repeat(64);
const now = Date.now();

function nodes(...names: string[]): Map<string, NodeView> {
  return new Map(
    names.map((n) => [
      n,
      nodeView(
        {
          metadata: { name: n, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } },
          spec: {},
          status: { conditions: [{ type: 'Ready', status: 'True' }] },
        },
        { metadata: { name: `gantry-agent-${n}`, annotations: {} }, spec: { holderIdentity: n, renewTime: new Date(now).toISOString() } },
        20_000,
        now,
      ),
    ]),
  );
}

/** Provider name → uid (the API server's garbage collector removes instances whose owner does not exist). */
const owners = new Map<string, string>();

function instance(provider: string, node: string, n: number): ProviderInstance {
  return {
    apiVersion,
    kind: 'ProviderInstance',
    metadata: {
      name: `${provider}-${node}-${n}`,
      namespace: NS,
      labels: { [labels.provider]: provider, [labels.node]: node },
      ownerReferences: [{ apiVersion, kind: 'Provider', name: provider, uid: owners.get(provider)!, controller: true }],
    },
    spec: {
      provider,
      nodeName: node,
      archive: { ref: 'registry.test/acme/echo', digest: DIGEST, revision: 1 },
      target: 'x86_64-linux',
      linkName: 'default',
    },
  } as ProviderInstance;
}

describe('creation expectations', () => {
  let api: TestApiServer;
  let client: KubeClient;

  beforeAll(async () => {
    api = await startTestApiServer();
    client = new KubeClient(api.kc);
    for (const crd of [providerCrd(), providerInstanceCrd()])
      await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    try {
      await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    await waitFor(
      'CRDs served',
      async () =>
        (await client.list(instancesPath(NS))) !== undefined &&
        (await client.list(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers`)) !== undefined,
    );
    for (const name of ['echo', 'other']) {
      const p = await client.create<any>(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers`, {
        apiVersion,
        kind: 'Provider',
        metadata: { name, namespace: NS },
        spec: { archive: { ref: 'registry.test/acme/echo' } },
      });
      owners.set(name, p.metadata.uid);
    }
  });
  afterAll(async () => {
    client?.close();
    await api?.stop();
  });

  it('a reconcile that outruns the watch places nothing twice: 3 rounds, 2 replicas created once, load counted for the next Provider', async () => {
    const index = new InstanceIndex();
    const writer = new InstanceWriter(client, new Limiter(4), index, new ControllerMetrics(), () => true);
    const cluster = nodes('n1', 'n2', 'n3');
    let serial = 0;
    // the reconciler's phases 3 and 4 over what the index says this Provider has
    const reconcile = async (provider: string, desired: number) => {
      const have = index.instancesOf(`${NS}/${provider}`);
      const plan = planRollout({
        instances: have.map((i) => ({
          name: i.metadata.name,
          node: i.spec.nodeName,
          template: i.spec.archive.digest,
          ready: false,
          createdAt: new Date(now).toISOString(),
        })),
        targetTemplate: DIGEST,
        desired,
        maxSurge: 1,
        maxUnavailable: 0,
        load: index.load(),
      });
      const s = schedulePhase({
        key: `${NS}/${provider}`,
        spec: { archive: { ref: 'registry.test/acme/echo' } } as any,
        resolved: { digest: DIGEST, revision: 1, targets: ['x86_64-linux'] } as any,
        plan,
        nodes: cluster,
        load: index.load(),
        previous: new Set(have.map((i) => i.spec.nodeName)),
        avoid: new Set(),
      });
      return (
        await writer.create(
          NS,
          s.placements.map((p) => instance(provider, p.node, serial++)),
        )
      ).created;
    };
    expect(await reconcile('echo', 2)).toBe(2);
    expect(await reconcile('echo', 2)).toBe(0); // the watch has shown nothing yet
    expect(await reconcile('echo', 2)).toBe(0);
    const stored = (await client.list<ProviderInstance>(instancesPath(NS))).items.filter((i) => i.spec.provider === 'echo');
    expect(stored).toHaveLength(2);
    expect(new Set(stored.map((i) => i.spec.nodeName)).size).toBe(2); // one per node, as the filters demand
    // the expected creations count as load: another Provider's single replica goes to the empty node
    const empty = ['n1', 'n2', 'n3'].find((n) => !stored.some((i) => i.spec.nodeName === n));
    expect(await reconcile('other', 1)).toBe(1);
    const other = (await client.list<ProviderInstance>(instancesPath(NS))).items.filter((i) => i.spec.provider === 'other');
    expect(other.map((i) => i.spec.nodeName)).toEqual([empty]);
  });
});
