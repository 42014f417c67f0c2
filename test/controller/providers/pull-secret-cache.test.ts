/**
 * Pull secrets as the controller reads them: from a cache that a reconcile never waits on,
 * filled by GETs against a real API server (the emulator), telling the Providers that asked
 * when a secret appears or changes — and only then.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTestApiServer, type TestApiServer } from '../../support/apiserver.js';
import { KubeClient } from '../../../runtime/kube.js';
import { PullSecretCache } from '../../../controller/providers/pull-secret-cache.js';
import { PullSecretError } from '../../../registry/pull-secrets.js';
import { waitFor } from '../cluster.js';

const NS = 'apps';
const docker = (user: string) =>
  Buffer.from(JSON.stringify({ auths: { 'registry.example:5000': { auth: Buffer.from(`${user}:pw`).toString('base64') } } })).toString(
    'base64',
  );

describe('PullSecretCache', () => {
  let api: TestApiServer;
  let client: KubeClient;
  beforeAll(async () => {
    api = await startTestApiServer();
    client = new KubeClient(api.kc);
    await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  });
  afterAll(async () => {
    client?.close();
    await api?.stop();
  });
  const put = (name: string, body: Record<string, unknown>) =>
    client.create(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, ...body });

  it('answers undefined while a secret is first read, then from the cache, and enqueues the asking Provider once it arrives', async () => {
    await put('robot', { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': docker('robot') } });
    const enqueued: string[] = [];
    const cache = new PullSecretCache(client, (pk) => enqueued.push(pk));
    expect(cache.lookup('apps/kv', NS, ['robot'])).toBeUndefined();
    await waitFor('enqueued', async () => enqueued.length > 0);
    expect(enqueued).toEqual(['apps/kv']);
    const hit = cache.lookup('apps/kv', NS, ['robot']);
    expect(
      hit &&
        'secrets' in hit &&
        hit.secrets.map((s) => [s.namespace, s.name, JSON.parse(s.dockerConfig).auths['registry.example:5000'].auth]),
    ).toEqual([[NS, 'robot', Buffer.from('robot:pw').toString('base64')]]);
    cache.stop();
  });

  it('a missing secret is an error that is looked at again soon; creating it enqueues the Provider', async () => {
    const enqueued: string[] = [];
    const cache = new PullSecretCache(client, (pk) => enqueued.push(pk), { errorTtlMs: 50 });
    cache.lookup('apps/late', NS, ['late-creds']);
    await waitFor('first read', async () => enqueued.length === 1);
    const miss = cache.lookup('apps/late', NS, ['late-creds']);
    expect(miss && 'error' in miss && miss.error).toBeInstanceOf(PullSecretError);
    expect(miss && 'error' in miss && miss.error.code).toBe('PULL_SECRET_MISSING');
    await put('late-creds', { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': docker('late') } });
    const found = await waitFor('seen after creation', async () => {
      await new Promise((r) => setTimeout(r, 60));
      const r = cache.lookup('apps/late', NS, ['late-creds']);
      return r && 'secrets' in r && r;
    });
    expect('secrets' in found && found.secrets[0].name).toBe('late-creds');
    expect(enqueued).toEqual(['apps/late', 'apps/late']); // the miss, then the secret: each a change
    cache.stop();
  });

  it('refuses a Secret that is not a dockerconfigjson one, with its own code', async () => {
    await put('opaque', { type: 'Opaque', data: { '.dockerconfigjson': docker('x') } });
    const cache = new PullSecretCache(client, () => {});
    cache.lookup('apps/p', NS, ['opaque']);
    const r = await waitFor('read', async () => cache.lookup('apps/p', NS, ['opaque']));
    expect('error' in r && [r.error.code, r.error.message]).toEqual([
      'PULL_SECRET_INVALID',
      'pull secret apps/opaque has type Opaque; expected kubernetes.io/dockerconfigjson',
    ]);
    cache.stop();
    // a dockerconfigjson Secret without its key cannot exist: the API server refuses it (and
    // registry/pull-secrets.ts still names it, were one to come from an older store)
    const keyless = await put('keyless', { type: 'kubernetes.io/dockerconfigjson', data: { other: docker('x') } }).then(
      () => undefined,
      (e) => e,
    );
    expect(keyless?.message).toMatch(/data\[\.dockerconfigjson\]: Required value/);
  });
});
