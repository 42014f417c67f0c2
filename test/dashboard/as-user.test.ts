/**
 * The dashboard acts with the user's own identity, proven on the real API server (RBAC on):
 * a user who may read Providers, instances and Nodes but not CapabilityGrants, Secrets or pods
 * sees the first three, and grants and metrics as unavailable with the API server's own
 * Forbidden message; given the right later, the grants appear without a restart, and go again
 * when it is taken away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dashboard, startDashboard } from '../../dashboard/index.js';
import { KubeApiError, KubeClient, loadKubeConfig } from '../../runtime/kube.js';
import { NS, rawGet, startWorld, waitUntil, type World } from './world.js';

const USER_NS = 'viewers';
const USER = 'dashboard-viewer';
const rbac = '/apis/rbac.authorization.k8s.io/v1';

let w: World;
let d: Dashboard;
let userKube: KubeClient;

beforeAll(async () => {
  w = await startWorld();
  await w.addNode('node-a');
  await w.addProvider('echo', 1);
  await w.addInstance('echo-1', 'echo', 'node-a', { phase: 'Running' });
  await w.addGrant('caller', 'echo');
  await w.kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: USER_NS } });
  await w.kube.create(`${rbac}/clusterroles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'providers-viewer' },
    rules: [
      { apiGroups: ['gantry.dev'], resources: ['providers', 'providerinstances'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    ],
  });
  await bind('providers-viewer');
  const sa = await w.api.controlPlane!.serviceAccountKubeconfig(USER_NS, USER);
  const kubeConfig = loadKubeConfig({ kubeconfigPath: sa.path });
  userKube = new KubeClient(kubeConfig);
  // no metrics URLs: the agent pods through the API server's pod proxy, as the user
  d = await startDashboard({ kubeConfig, port: 0, retryMs: 300, scrapeIntervalMs: 300 });
});

afterAll(async () => {
  await d?.stop();
  userKube?.close();
  await w?.stop();
});

async function bind(role: string): Promise<void> {
  await w.kube.create(`${rbac}/clusterrolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `${USER}-${role}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: USER, namespace: USER_NS }],
  });
}

const state = async () => JSON.parse((await rawGet(d.port, '/api/state')).body);

describe('the dashboard as a user who may not read grants, Secrets or pods (real API server)', () => {
  it('the user really is held back: listing Secrets and grants is Forbidden to them', async () => {
    for (const path of ['/api/v1/secrets', `/apis/gantry.dev/v1alpha1/namespaces/${NS}/capabilitygrants`]) {
      const err = await userKube.list(path).catch((e) => e);
      expect(err, path).toBeInstanceOf(KubeApiError);
      expect((err as KubeApiError).code).toBe(403);
    }
  });

  it('shows what the user may read, and grants and metrics as Forbidden with the API server message', async () => {
    const s = await state();
    expect(s.cluster.user).toBeTruthy();
    expect(s.providers.map((p: any) => `${p.namespace}/${p.name}`)).toEqual([`${NS}/echo`]);
    expect(s.nodes.map((n: any) => [n.name, n.instances.map((i: any) => i.name)])).toEqual([['node-a', ['echo-1']]]);
    expect(s.grants).toEqual([]);
    const grants = s.unavailable.find((u: any) => u.part === 'grants');
    expect(grants).toMatchObject({ reason: 'Forbidden' });
    expect(grants.message).toContain(`system:serviceaccount:${USER_NS}:${USER}`);
    expect(grants.message).toContain('capabilitygrants');
    const metrics = await waitUntil('metrics tried', async () => (await state()).unavailable.find((u: any) => u.part === 'metrics'));
    expect(metrics).toMatchObject({ reason: 'Forbidden' });
    expect(metrics.message).toContain('pods');
  });

  it('once the user may read grants, they appear without a restart', async () => {
    await w.kube.create(`${rbac}/clusterroles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'grants-viewer' },
      rules: [{ apiGroups: ['gantry.dev'], resources: ['capabilitygrants'], verbs: ['get', 'list', 'watch'] }],
    });
    await bind('grants-viewer');
    const s = await waitUntil('grants shown', async () => {
      const st = await state();
      return st.grants.length ? st : undefined;
    });
    expect(s.grants.map((g: any) => g.name)).toEqual(['caller']);
    expect(s.unavailable.map((u: any) => u.part)).not.toContain('grants');
  });

  it('once the right is taken away again, the grants it showed go and the notice returns', async () => {
    await w.kube.delete(`${rbac}/clusterrolebindings/${USER}-grants-viewer`);
    const s = await waitUntil('grants withdrawn', async () => {
      const st = await state();
      return st.unavailable.some((u: any) => u.part === 'grants') ? st : undefined;
    });
    expect(s.grants).toEqual([]);
    expect(s.unavailable.find((u: any) => u.part === 'grants')).toMatchObject({ reason: 'Forbidden' });
  });
});
