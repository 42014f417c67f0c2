/**
 * The trust policy watcher (api/trust-watch.ts) against an API server (the emulator, and the
 * real one as deploy/base's gantry-agent ServiceAccount, whose Role names gantry-trust alone):
 * absent = nothing trusted, each valid change called back once, a malformed update refused with
 * the last policy kept, another ConfigMap (another name, another namespace) never read, and a
 * deletion trusting nothing; and at each step what /metrics says (runtime/trust-metrics.ts).
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustWatch } from '../../api/trust-watch.js';
import { generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { isNotFound, KubeClient } from '../../runtime/kube.js';
import { logger } from '../../runtime/log.js';
import { registerTrustMetrics } from '../../runtime/trust-metrics.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { until as waitUntil } from '../support/until.js';

const NS = 'gantry-system';
const CM = 'gantry-trust';
const key = () => publicKeyFromSeed(generateSeed('account'));
const [K1, K2, K3] = [key(), key(), key()];
const cmPath = (ns = NS) => `/api/v1/namespaces/${ns}/configmaps`;

const until = (what: string, ok: () => boolean | Promise<boolean>, ms = 6_000) => waitUntil(what, ok, ms);

describe('TrustWatch', () => {
  let api: TestApiServer;
  let admin: KubeClient;
  let watch: TrustWatch;
  const changes: string[][] = [];
  const errors: string[] = [];
  // what /metrics says of the watch (runtime/trust-metrics.ts): [valid, issuers, refusals]
  const registry = new Registry();
  const figures = async () => {
    const text = await registry.metrics();
    return ['gantry_trust_policy_valid', 'gantry_trusted_issuers', 'gantry_trust_policy_refusals_total'].map((n) =>
      Number(new RegExp(`^${n} (\\S+)$`, 'm').exec(text)?.[1]),
    );
  };

  const put = (data: Record<string, string>, name = CM, ns = NS) =>
    admin.replace(`${cmPath(ns)}/${name}`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data });
  const create = (data: Record<string, string>, name = CM, ns = NS) =>
    admin.create(cmPath(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data });

  beforeAll(async () => {
    api = await startTestApiServer();
    admin = new KubeClient(api.kc);
    for (const ns of [NS, 'elsewhere'])
      await admin.get(`/api/v1/namespaces/${ns}`).catch(async (err) => {
        if (!isNotFound(err)) throw err;
        await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      });
    // as the agent runs on the real server: only get/list/watch of gantry-trust by name
    const agent = new KubeClient((await api.identity('agent')).kc);
    watch = new TrustWatch({ client: agent, namespace: NS, name: CM, log: logger('test') });
    watch.onChange((issuers) => changes.push([...issuers]));
    watch.onError((message) => errors.push(message));
    registerTrustMetrics(registry, watch);
  }, 60_000);
  afterAll(async () => {
    await watch?.stop();
    admin?.close();
    await api?.stop();
  });

  it('absent at start: nothing is trusted, and the problem says so', async () => {
    await watch.start();
    expect(watch.issuers).toEqual([]);
    expect(watch.problem).toBe(
      `ConfigMap ${NS}/${CM} does not exist: nothing is trusted until it is created (an absent trust policy trusts no issuer)`,
    );
    expect(errors).toEqual([watch.problem]);
    expect(changes).toEqual([]);
    expect(await figures()).toEqual([0, 0, 1]); // missing at start: counted, since registered before start()
  });

  it('created: its issuers are in force, called back once; the problem is cleared', async () => {
    await create({ 'trusted-issuers': `${K1},${K2}` });
    await until('first policy', () => changes.length === 1);
    expect(changes).toEqual([[K1, K2]]);
    expect(watch.issuers).toEqual([K1, K2]);
    expect(watch.problem).toBeUndefined();
    expect(await figures()).toEqual([1, 2, 1]);
  });

  it('another ConfigMap (another name, the same name elsewhere) is never read', async () => {
    await create({ 'trusted-issuers': K3 }, 'gantry-trust-2');
    await create({ 'trusted-issuers': K3 }, CM, 'elsewhere');
    await put({ 'trusted-issuers': K1 });
    await until('narrowed to K1', () => changes.length === 2);
    expect(changes[1]).toEqual([K1]);
    expect(changes.flat()).not.toContain(K3);
  });

  it('the same issuers again (reordered, repeated, other keys changed) call nothing back', async () => {
    await put({ 'trusted-issuers': `${K2},${K1}` });
    await until('K1,K2', () => changes.length === 3);
    await put({ 'trusted-issuers': `${K1}, ${K2},${K1}`, 'require-log': 'true' });
    await put({ 'trusted-issuers': `${K1},${K2},${K3}` });
    await until('K3 added', () => changes.length === 4);
    expect(changes.slice(2)).toEqual([
      [K2, K1],
      [K1, K2, K3],
    ]);
  });

  it('a malformed update is refused with its reason and the last valid policy stays; a valid one after it applies', async () => {
    errors.length = 0;
    await put({ 'trusted-issuers': `${K1},oops` });
    await until('refusal', () => errors.length === 1);
    expect(errors[0]).toContain('trusted-issuers entry 2 "oops" is not an account public key');
    expect(watch.problem).toBe(errors[0]);
    expect(watch.issuers).toEqual([K1, K2, K3]);
    expect(await figures()).toEqual([0, 3, 2]); // refused: not valid, the last policy's 3 issuers still trusted
    await put({ 'trusted-issuers': K2 });
    await until('K2', () => changes.length === 5);
    expect(watch.issuers).toEqual([K2]);
    expect(watch.problem).toBeUndefined();
    expect(await figures()).toEqual([1, 1, 2]);
  });

  it('deleted: nothing is trusted (fail closed), called back with the empty list', async () => {
    await admin.delete(`${cmPath()}/${CM}`);
    await until('deletion', () => changes.length === 6);
    expect(changes[5]).toEqual([]);
    expect(watch.issuers).toEqual([]);
    expect(watch.problem).toContain('does not exist: nothing is trusted');
    expect(await figures()).toEqual([0, 0, 3]);
  });
});
