import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, KubeApiError, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { Informer } from '../../runtime/informer.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { waitFor } from './cluster.js';

/** A TCP proxy whose open connections can be frozen: bytes stop flowing but nothing closes (a half-open watch). */
async function freezableProxy(target: number) {
  const conns: { a: net.Socket; b: net.Socket }[] = [];
  const server = net.createServer((a) => {
    const b = net.connect(target, '127.0.0.1');
    const pair = { a, b };
    conns.push(pair);
    a.on('data', (d) => !(pair as any).frozen && b.write(d));
    b.on('data', (d) => !(pair as any).frozen && a.write(d));
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    freezeOpen() {
      for (const c of conns) (c as any).frozen = true;
    },
    /** Lets bytes flow again; what was sent while frozen is lost, as on a broken stream. */
    thaw() {
      for (const c of conns) (c as any).frozen = false;
    },
    close: () => {
      for (const c of conns) c.a.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('runtime/kube and runtime/informer on the emulator', () => {
  let api: TestApiServer;
  let client: KubeClient;
  const cmPath = (name = '') => resourcePath({ version: 'v1', plural: 'configmaps', namespace: 'default', name: name || undefined });

  beforeAll(async () => {
    api = await startTestApiServer();
    client = new KubeClient(loadKubeConfig({ kubeconfigPath: api.kubeconfigPath }));
  });
  afterAll(async () => {
    client?.close();
    await api?.stop();
  });
  /** A client whose connections go through a freezable proxy to the emulator. */
  const clientViaProxy = async () => {
    const proxy = await freezableProxy(api.port);
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfigYaml.replace(`:${api.port}`, `:${proxy.port}`));
    return { proxy, viaProxy: new KubeClient(kc) };
  };

  it('KubeClient does CRUD with merge-patch and typed errors', async () => {
    await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { x: '1' } });
    const p = await client.mergePatch(cmPath('a'), { data: { y: '2' } });
    expect(p.data).toEqual({ x: '1', y: '2' });
    const dup = await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }).catch((e) => e);
    expect(dup).toBeInstanceOf(KubeApiError);
    expect(dup.code).toBe(409);
    expect(dup.reason).toBe('AlreadyExists');
    await client.delete(cmPath('a'));
    const gone = await client.get(cmPath('a')).catch((e) => e);
    expect(gone.code).toBe(404);
    expect(() => loadKubeConfig({ kubeconfigPath: '/nonexistent' })).toThrow(/does not exist/);
  });

  it('keeps following changes across server-closed watches and restarts a stalled one', async () => {
    const { proxy, viaProxy } = await clientViaProxy();
    const inf = new Informer<any>({ client: viaProxy, path: cmPath(), watchTimeoutSeconds: 1, stallGraceMs: 500, backoffMinMs: 50 });
    const seen: string[] = [];
    inf.addHandler({ add: (o) => seen.push(`+${o.metadata.name}`), delete: (o) => seen.push(`-${o.metadata.name}`) });
    try {
      await inf.start();
      await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1' } });
      await waitFor('w1 seen', async () => seen.includes('+w1'), 5000, 20);
      // the server closes the 1 s watch; the informer continues from its resourceVersion with a
      // new watch (waited for, not slept for), which sees what happens next without a relist
      const watches = inf.stats.watches;
      const lists = inf.stats.lists;
      await waitFor('the server-closed watch replaced', async () => inf.stats.watches > watches, 5000, 20);
      await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w2' } });
      await waitFor('w2 seen', async () => seen.includes('+w2'), 5000, 20);
      expect(inf.stats.lists).toBe(lists);
      // now the open watch goes silent without closing: only the watchdog can notice
      proxy.freezeOpen();
      await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w3' } });
      await client.delete(cmPath('w1'));
      await waitFor('w3 and -w1 seen after the stall', async () => seen.includes('+w3') && seen.includes('-w1'), 8000, 50);
      expect(inf.stats.stalls).toBeGreaterThanOrEqual(1);
      expect(inf.get('w3', 'default')?.metadata.name).toBe('w3');
      expect(inf.get('w1', 'default')).toBeUndefined();
    } finally {
      await inf.stop();
      viaProxy.close();
      await proxy.close();
    }
  });

  it('relisting repairs the cache and fires handlers for what the watch missed', async () => {
    await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r0' }, data: { v: '1' } });
    await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r2' } });
    const { proxy, viaProxy } = await clientViaProxy();
    // a long watch and no periodic relist: only relist() can bring back what the watch drops
    const inf = new Informer<any>({ client: viaProxy, path: cmPath(), relistIntervalMs: 0, watchTimeoutSeconds: 60, stallGraceMs: 60_000 });
    const events: string[] = [];
    inf.addHandler({
      add: (o) => events.push(`+${o.metadata.name}`),
      update: (o) => events.push(`~${o.metadata.name}`),
      delete: (o) => events.push(`-${o.metadata.name}`),
    });
    try {
      await inf.start();
      expect(inf.get('r0', 'default')).toBeDefined();
      expect(inf.get('r2', 'default')).toBeDefined();
      events.length = 0;
      // the watch loses everything sent while frozen
      proxy.freezeOpen();
      await client.create(cmPath(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r1' } });
      await client.delete(cmPath('r2'));
      await client.mergePatch(cmPath('r0'), { data: { v: '2' } });
      await new Promise((r) => setTimeout(r, 300));
      expect(inf.get('r1', 'default')).toBeUndefined();
      proxy.thaw();
      const listsBefore = inf.stats.lists;
      inf.relist();
      await waitFor('relist diffed', async () => ['+r1', '-r2', '~r0'].every((e) => events.includes(e)), 5000, 20);
      expect(inf.stats.lists).toBe(listsBefore + 1);
      expect(inf.get('r1', 'default')).toBeDefined();
      expect(inf.get('r2', 'default')).toBeUndefined();
      expect(inf.get('r0', 'default')?.data).toEqual({ v: '2' });
    } finally {
      await inf.stop();
      viaProxy.close();
      await proxy.close();
    }
  });
});

describe('KubeClient credential refresh', () => {
  it('keeps one connection pool across refreshes when the credentials did not change', async () => {
    const api = await startTestApiServer();
    const client = new KubeClient(loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml }));
    try {
      await client.list('/api/v1/namespaces');
      const first = (client as any).creds.agent;
      (client as any).creds.at = 0; // as if the refresh interval had passed
      await client.list('/api/v1/namespaces');
      expect((client as any).creds.agent).toBe(first);
    } finally {
      client.close();
      await api.stop();
    }
  });
});
