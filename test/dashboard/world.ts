/**
 * A cluster for the dashboard's tests: the test API server (emulated or real, per project) with
 * Gantry's CRDs, a namespace, Nodes, and helpers that write Providers, instances and grants as
 * the controller and agents would (the dashboard only reads, so no controller runs).
 */
import { capabilityGrantCrd, providerCrd, providerInstanceCrd } from '../../api/index.js';
import { isAlreadyExists, KubeClient } from '../../runtime/kube.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';

export const NS = 'apps';
export const DIGEST = `sha256:${'a'.repeat(64)}`;
const G = '/apis/gantry.dev/v1alpha1';

export interface World {
  api: TestApiServer;
  kube: KubeClient;
  addNode(name: string, arch?: string): Promise<void>;
  addProvider(name: string, replicas: number): Promise<void>;
  setProviderStatus(name: string, status: Record<string, unknown>): Promise<void>;
  addInstance(name: string, provider: string, node: string, status?: Record<string, unknown>): Promise<void>;
  addGrant(name: string, provider: string, expires?: string): Promise<void>;
  stop(): Promise<void>;
}

export async function waitUntil<T>(what: string, read: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startWorld(): Promise<World> {
  const api = await startTestApiServer();
  const kube = new KubeClient(api.kc);
  for (const crd of [providerCrd(), providerInstanceCrd(), capabilityGrantCrd()]) {
    await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd).catch((e) => {
      if (!isAlreadyExists(e)) throw e;
    });
  }
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }).catch((e) => {
    if (!isAlreadyExists(e)) throw e;
  });
  // CRDs become servable asynchronously on a real server
  for (const plural of ['providers', 'providerinstances', 'capabilitygrants']) {
    await waitUntil(`${plural} served`, () =>
      kube.list(`${G}/namespaces/${NS}/${plural}`).then(
        () => true,
        () => undefined,
      ),
    );
  }
  return {
    api,
    kube,
    async addNode(name, arch = 'amd64') {
      await kube.create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux' } },
      });
      await kube.mergePatch(`/api/v1/nodes/${name}/status`, {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'ok',
              lastHeartbeatTime: new Date().toISOString(),
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      });
    },
    async addProvider(name, replicas) {
      await kube.create(`${G}/namespaces/${NS}/providers`, {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'Provider',
        metadata: { name },
        spec: { archive: { ref: `registry.test:5000/acme/${name}` }, replicas },
      });
    },
    async setProviderStatus(name, status) {
      await kube.mergePatch(`${G}/namespaces/${NS}/providers/${name}/status`, { status });
    },
    async addInstance(name, provider, node, status) {
      await kube.create(`${G}/namespaces/${NS}/providerinstances`, {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'ProviderInstance',
        metadata: { name },
        spec: {
          provider,
          nodeName: node,
          archive: { ref: `registry.test:5000/acme/${provider}`, digest: DIGEST, revision: 1 },
          target: 'x86_64-linux',
        },
      });
      if (status) await kube.mergePatch(`${G}/namespaces/${NS}/providerinstances/${name}/status`, { status });
    },
    async addGrant(name, provider, expires) {
      await kube.create(`${G}/namespaces/${NS}/capabilitygrants`, {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'CapabilityGrant',
        metadata: { name },
        spec: { grantee: { nkey: `U${'A'.repeat(55)}` }, provider, operations: ['echo'], ...(expires ? { expires } : {}) },
      });
    },
    async stop() {
      kube.close();
      await api.stop();
    },
  };
}

/** GET a dashboard path with a chosen Host header (fetch() does not let one set Host). */
export async function rawGet(
  port: number,
  path: string,
  opts: { host?: string; method?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { Host: opts.host ?? `127.0.0.1:${port}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Reads `state` events from /api/events until `until` accepts one. */
export async function nextState(port: number, until: (s: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/events`, { signal: ac.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('event stream ended');
      buf += value;
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (!frame.includes('event: state') || !data) continue;
        const s = JSON.parse(data.slice(6));
        if (until(s)) return s;
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
