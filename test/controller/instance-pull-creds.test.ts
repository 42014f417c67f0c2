/**
 * Per-instance pull credentials (controller/instance-pull-creds.ts): the controller, running as
 * deploy/'s gantry-controller on the real API server, writes each instance's credential into
 * gantry-system reduced to the archive's registry, rewrites it when the Provider's pull secret
 * is rotated (same instance, same uid), and deletes it with the instance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../../controller/index.js';
import { instancePullCredsSecretName } from '../../api/index.js';
import { isNotFound } from '../../runtime/kube.js';
import { APP, fastLeader, NS, startCluster, waitFor, type Cluster } from './cluster.js';

describe('instance pull credentials', () => {
  let c: Cluster;
  let ctl: RunningController;
  const docker = (password: string, host: string) => Buffer.from(JSON.stringify({ auths: {
    [host]: { auth: Buffer.from(`robot:${password}`).toString('base64') },
    'elsewhere.example:5000': { auth: Buffer.from('other:keep-out').toString('base64') },
  } })).toString('base64');
  const held = async (instName: string) => {
    try {
      const s = await c.client.get(`/api/v1/namespaces/${NS}/secrets/${instancePullCredsSecretName(APP, instName)}`);
      return { secret: s, config: JSON.parse(Buffer.from(s.data['.dockerconfigjson'], 'base64').toString()) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  beforeAll(async () => {
    c = await startCluster();
    await c.publish('acme/creds', { revision: 1, targets: ['x86_64-linux'] });
    await c.addNode('n1', 'amd64');
    ctl = await startController({ kubeConfig: c.controllerKc, namespace: NS, trustedIssuers: [c.issuer], plainHttpRegistries: [c.registry.host], leaderElection: fastLeader, resyncMs: 500, pullSecretTtlMs: 300 });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('writes the narrowed credential, rewrites it on rotation, reports a missing secret, and deletes it with the instance', async () => {
    await c.client.create(`/api/v1/namespaces/${APP}/secrets`, { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson', metadata: { name: 'robot' }, data: { '.dockerconfigjson': docker('first', c.registry.host) } });
    await c.applyProvider('creds', { archive: { ref: c.ref('acme/creds'), pullSecrets: [{ name: 'robot' }] }, replicas: 1 });
    const [inst] = await waitFor('one instance', async () => { const l = await c.instances('creds'); return l.length === 1 && l; }, 30_000);
    const first = await waitFor('its credential', () => held(inst.metadata.name), 15_000);
    // one registry, the archive's: the other entry of the Provider's secret never reaches the node
    expect(first.config).toEqual({ auths: { [c.registry.host]: { username: 'robot', password: 'first' } } });
    expect(first.secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(first.secret.metadata.labels).toMatchObject({ 'gantry.dev/instance-pull-creds': 'true', 'gantry.dev/instance-namespace': APP, 'gantry.dev/instance-name': inst.metadata.name, 'gantry.dev/instance-uid': inst.metadata.uid });

    // rotation reaches the same instance's credential, no new instance
    const cur = await c.client.get(`/api/v1/namespaces/${APP}/secrets/robot`);
    await c.client.replace(`/api/v1/namespaces/${APP}/secrets/robot`, { ...cur, data: { '.dockerconfigjson': docker('second', c.registry.host) } });
    await waitFor('the rotated credential', async () => (await held(inst.metadata.name))?.config.auths[c.registry.host]?.password === 'second', 15_000);
    expect((await c.instances('creds')).map((i) => i.metadata.uid)).toEqual([inst.metadata.uid]);

    // the Provider's secret gone: the refusal is what the agent gets, never a stale credential
    await c.client.delete(`/api/v1/namespaces/${APP}/secrets/robot`);
    const refused = await waitFor('the refusal', async () => { const h = await held(inst.metadata.name); return h?.secret.metadata.annotations?.['gantry.dev/pull-secret-error'] && h; }, 15_000);
    expect(refused.secret.metadata.annotations['gantry.dev/pull-secret-error']).toMatch(/^PULL_SECRET_MISSING: .*robot/);
    expect(refused.config).toEqual({ auths: {} });

    // the instance gone (its Provider deleted): its credential is deleted too
    await c.client.delete(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers/creds`);
    await waitFor('instance gone', async () => (await c.instances('creds')).length === 0 || undefined, 30_000);
    await waitFor('credential deleted', async () => (await held(inst.metadata.name)) === undefined || undefined, 15_000);
  }, 90_000);
});
