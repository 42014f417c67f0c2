/**
 * The configFrom cache against an API server (config-ref-cache.ts): GET only, each failure its
 * own reason, the asking Provider enqueued when an object appears or changes. On the real
 * server a client without the right to read it gets ConfigRefForbidden (the agent's identity:
 * deploy/base grants it no ConfigMap or Secret of an application namespace).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigRefCache } from '../../../controller/providers/config-ref-cache.js';
import { ConfigRefError, type ConfigObject } from '../../../controller/providers/config-refs.js';
import { KubeClient } from '../../../runtime/kube.js';
import { startTestApiServer, type TestApiServer } from '../../support/apiserver.js';
import { waitFor } from '../cluster.js';

const NS = 'cfgcache';

describe('ConfigRefCache', () => {
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

  it('answers undefined while first read, then the decoded object; a missing one is its kind’s NotFound until it is created', async () => {
    const enqueued: string[] = [];
    const cache = new ConfigRefCache(client, (pk) => enqueued.push(pk), 50);
    const look = cache.lookupFor(`${NS}/p`, NS);
    expect(look('Secret', 's')).toBeUndefined();
    expect(look('ConfigMap', 'c')).toBeUndefined();
    const missing = await waitFor('both read', async () => {
      const s = look('Secret', 's');
      const c = look('ConfigMap', 'c');
      return s && c && [s, c];
    });
    expect(missing.map((m) => (m as ConfigRefError).reason)).toEqual(['SecretNotFound', 'ConfigMapNotFound']);
    expect(enqueued.length).toBeGreaterThan(0);
    await client.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { pw: Buffer.from('hunter2').toString('base64') },
    });
    enqueued.length = 0;
    const s = await waitFor('the Secret seen', async () => {
      const v = look('Secret', 's');
      return v && !(v instanceof ConfigRefError) && v;
    });
    expect([...(s as ConfigObject).data]).toEqual([['pw', 'hunter2']]);
    expect(enqueued).toContain(`${NS}/p`);
    cache.stop();
  });

  it.runIf(process.env.GANTRY_TEST_APISERVER === 'real')('a client that may not read the object gets ConfigRefForbidden', async () => {
    const agent = new KubeClient((await api.identity('agent')).kc);
    const cache = new ConfigRefCache(agent, () => {});
    const look = cache.lookupFor(`${NS}/p`, NS);
    look('ConfigMap', 'c');
    const r = await waitFor('read', async () => look('ConfigMap', 'c'));
    expect((r as ConfigRefError).reason).toBe('ConfigRefForbidden');
    expect((r as ConfigRefError).message).toContain(`the controller may not read ConfigMap ${NS}/c (forbidden)`);
    cache.stop();
    agent.close();
  });
});
