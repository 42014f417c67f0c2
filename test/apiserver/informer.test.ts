/**
 * client-node 1.x informers against the emulator: event ordering, no spurious updates on
 * no-op writes, server-closed watches resuming without duplicates, 410 → relist, restart with
 * persisted state, and stop() staying stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type ObjectCache, type V1ConfigMap } from '@kubernetes/client-node';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { freePort } from '../support/ports.js';
import { eventually, raw, watch } from './http.js';

type Ev = [string, string, string?];
/** ListWatch has latestResourceVersion(); makeInformer's declared type leaves it out. */
const rvOf = (inf: object): string => (inf as { latestResourceVersion(): string }).latestResourceVersion();
const started: { stop(): Promise<void> }[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.stop().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function server(opts: Parameters<typeof startTestApiServer>[0] = {}): Promise<TestApiServer> {
  const s = await startTestApiServer(opts);
  started.push(s);
  return s;
}

/** An informer on default/configmaps that records events and restarts itself after errors, as a controller would. */
function informer(kc: KubeConfig, labelSelector?: string) {
  const core = kc.makeApiClient(CoreV1Api);
  const inf: Informer<V1ConfigMap> & ObjectCache<V1ConfigMap> = makeInformer(
    kc,
    '/api/v1/namespaces/default/configmaps',
    () => core.listNamespacedConfigMap({ namespace: 'default', labelSelector }),
    labelSelector,
  );
  const events: Ev[] = [];
  let connects = 0;
  let stopped = false;
  inf.on('add', (o) => events.push(['add', o.metadata!.name!, o.data?.v]));
  inf.on('update', (o) => events.push(['update', o.metadata!.name!, o.data?.v]));
  inf.on('delete', (o) => events.push(['delete', o.metadata!.name!]));
  inf.on('connect', () => {
    connects++;
  });
  inf.on('error', () => {
    if (stopped) return;
    setTimeout(() => {
      if (!stopped) inf.start().catch(() => undefined);
    }, 100);
  });
  const handle = {
    inf,
    events,
    connects: () => connects,
    start: () => inf.start(),
    async stop() {
      stopped = true;
      await inf.stop();
    },
  };
  started.push(handle);
  return handle;
}

const put = (api: TestApiServer, name: string, v: string, labels: Record<string, string> = {}) =>
  raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name, labels }, data: { v } });
const set = (api: TestApiServer, name: string, v: string) =>
  raw(api, 'PATCH', `/api/v1/namespaces/default/configmaps/${name}`, { data: { v } }, { 'Content-Type': 'application/merge-patch+json' });

describe('client-node informers', () => {
  it('see add/update/delete in order and nothing for no-op writes', async () => {
    const api = await server();
    const i = informer(api.kc);
    await i.start();
    await put(api, 'a', '1');
    await set(api, 'a', '2');
    const cur = (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/a')).json;
    expect((await raw(api, 'PUT', '/api/v1/namespaces/default/configmaps/a', cur)).json.metadata.resourceVersion).toBe(
      cur.metadata.resourceVersion,
    );
    await set(api, 'a', '2'); // same value: no-op
    await set(api, 'a', '3');
    await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/a');
    await eventually(() => i.events.some((e) => e[0] === 'delete'), 5000, 'delete event');
    expect(i.events).toEqual([
      ['add', 'a', '1'],
      ['update', 'a', '2'],
      ['update', 'a', '3'],
      ['delete', 'a'],
    ]);
    await i.stop();
  });

  it('resume after the server closes the watch, without duplicates', async () => {
    const api = await server({ watchTimeoutSeconds: 0.3 });
    const i = informer(api.kc);
    await i.start();
    for (let n = 0; n < 8; n++) {
      await put(api, `r${n}`, '1');
      await new Promise((r) => setTimeout(r, 120));
    }
    await set(api, 'r0', '2');
    await eventually(() => i.events.length >= 9, 8000, 'all events');
    const seen = i.connects();
    await eventually(() => i.connects() >= Math.max(3, seen + 2), 8000, 'more re-watches'); // nothing may repeat across them
    expect(i.events).toEqual([...Array.from({ length: 8 }, (_, n): Ev => ['add', `r${n}`, '1']), ['update', 'r0', '2']]);
    await i.stop();
  });

  it('relist after 410 Expired and converge', async () => {
    const api = await server({ watchTimeoutSeconds: 0.3, watchHistory: 6 });
    const i = informer(api.kc, 'grp=a');
    await i.start();
    await put(api, 'm1', '1', { grp: 'a' });
    await eventually(() => i.events.length === 1, 5000, 'first add');
    const rvBefore = Number(rvOf(i.inf));
    // Unrelated writes push the informer's RV out of the history window.
    for (let n = 0; n < 20; n++) await put(api, `other${n}`, '1');
    const current = Number((await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?limit=1')).json.metadata.resourceVersion);
    // Only a relist (after the 410) can move the informer's RV past the unrelated writes.
    await eventually(() => Number(rvOf(i.inf)) >= current, 8000, 'relist after 410');
    expect(rvBefore).toBeLessThan(current);
    await set(api, 'm1', '2');
    await put(api, 'm2', '1', { grp: 'a' });
    await eventually(() => i.events.length >= 3, 5000, 'events after relist');
    expect(i.events).toEqual([
      ['add', 'm1', '1'],
      ['update', 'm1', '2'],
      ['add', 'm2', '1'],
    ]);
    expect(
      i.inf
        .list()
        .map((o) => o.metadata!.name)
        .sort(),
    ).toEqual(['m1', 'm2']);
    await i.stop();
  });

  it('survive an emulator restart with persisted state; old watches get 410', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-apiserver-restart-'));
    dirs.push(dir);
    const port = await freePort();
    const first = await startTestApiServer({ stateDir: dir, port });
    const i = informer(first.kc);
    await i.start();
    const created = (await put(first, 'keep', '1')).json;
    await eventually(() => i.events.length === 1, 5000, 'add before restart');
    const oldRv = Number(created.metadata.resourceVersion);
    await put(first, 'later', '1');
    await first.stop();
    const second = await server({ stateDir: dir, port });
    expect(second.token).toBe(first.token);
    const kept = await raw(second, 'GET', '/api/v1/namespaces/default/configmaps/keep');
    expect(kept.json.metadata.uid).toBe(created.metadata.uid);
    expect(kept.json.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const w = await watch(second, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${oldRv}`);
    await w.ended;
    expect(w.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    const next = await set(second, 'keep', '2');
    expect(Number(next.json.metadata.resourceVersion)).toBeGreaterThan(oldRv + 1);
    await eventually(() => i.events.some((e) => e[0] === 'update'), 10000, 'informer after restart');
    expect(i.events.filter((e) => e[1] === 'keep')).toEqual([
      ['add', 'keep', '1'],
      ['update', 'keep', '2'],
    ]);
    expect(i.inf.get('later', 'default')).toBeDefined();
    await i.stop();
  });

  it('stop() stays stopped', async () => {
    const api = await server({ watchTimeoutSeconds: 0.2 });
    const i = informer(api.kc);
    await i.start();
    await put(api, 's1', '1');
    await eventually(() => i.events.length === 1, 5000, 'first add');
    await i.stop();
    const connects = i.connects();
    await put(api, 's2', '1');
    await new Promise((r) => setTimeout(r, 800)); // several server-side watch timeouts
    expect(i.events).toEqual([['add', 's1', '1']]);
    expect(i.connects()).toBe(connects);
  });

  it('a stopped emulator stays stopped', async () => {
    const api = await startTestApiServer();
    await api.stop();
    await api.stop(); // idempotent
    await expect(raw(api, 'GET', '/version')).rejects.toThrow(/ECONNREFUSED/);
  });
});
