/**
 * API emulator benchmark: create throughput (ConfigMaps and schema-validated custom
 * resources), watch fan-out latency with 10 watchers at 10k stored objects, and resident
 * memory per 10k objects. Each figure is printed beside a baseline from the same run: a bare
 * HTTPS server on the same certificate that only reads the body and answers 201, the write's
 * own round trip, and the objects' JSON size. Run: `npm run build && node dist/bench/apiserver.js`.
 */
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { packageRoot } from '../runtime/paths.js';
import { KubeClient, loadKubeConfig } from '../runtime/kube.js';

const N = 10_000;
const CONCURRENCY = 32;
const WATCHERS = 10;
const FANOUT_WRITES = 200;

interface Target {
  url: string;
  ca: string;
  token: string;
}

function call(
  t: Target,
  agent: Agent,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      new URL(path, t.url),
      {
        method,
        agent,
        ca: t.ca,
        headers: {
          Authorization: `Bearer ${t.token}`,
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(payload)) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Create `count` objects with CONCURRENCY requests in flight; returns objects/s. */
async function createMany(t: Target, path: string, make: (i: number) => unknown, count: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const r = await call(t, agent, 'POST', path, make(i));
        if (r.status !== 201) throw new Error(`create ${i}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  return count / secs;
}

async function bareServer(certPem: string, keyPem: string): Promise<{ url: string; stop(): Promise<void> }> {
  const srv = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    stop: () =>
      new Promise((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      }),
  };
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 1024 / 1024;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function fanout(api: ApiServer, t: Target): Promise<{ p50: number; p99: number; rtt50: number }> {
  const agent = new Agent({ keepAlive: true });
  const name = 'fanout';
  await call(t, agent, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name }, data: { n: '0' } });
  const rv = JSON.parse((await call(t, agent, 'GET', `/api/v1/namespaces/default/configmaps/${name}`)).text).metadata.resourceVersion;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  // Watchers are the runtime's own client (runtime/kube.ts), as the controllers watch.
  const client = new KubeClient(loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml }));
  const stop = new AbortController();
  const connected = new Set<number>();
  const watches = Array.from({ length: WATCHERS }, (_, w) =>
    client.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: rv },
      (ev) => {
        connected.add(w);
        const sent = sentAt.get(ev.object?.data?.n);
        if (ev.object?.metadata?.name === name && sent !== undefined) latencies.push(performance.now() - sent);
      },
      stop.signal,
    ),
  );
  // A warm-up write, not timed: once every watcher has its event, all are subscribed.
  await call(
    t,
    agent,
    'PATCH',
    `/api/v1/namespaces/default/configmaps/${name}`,
    { data: { n: 'warm-up' } },
    'application/merge-patch+json',
  );
  const connectBy = Date.now() + 10_000;
  while (connected.size < WATCHERS && Date.now() < connectBy) await new Promise((r) => setTimeout(r, 20));
  if (connected.size < WATCHERS) throw new Error(`fan-out: only ${connected.size} of ${WATCHERS} watches started`);
  const rtts: number[] = [];
  for (let n = 1; n <= FANOUT_WRITES; n++) {
    const t0 = performance.now();
    sentAt.set(String(n), t0);
    await call(
      t,
      agent,
      'PATCH',
      `/api/v1/namespaces/default/configmaps/${name}`,
      { data: { n: String(n) } },
      'application/merge-patch+json',
    );
    rtts.push(performance.now() - t0);
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < FANOUT_WRITES * WATCHERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  await Promise.allSettled(watches);
  client.close();
  agent.destroy();
  if (latencies.length < FANOUT_WRITES * WATCHERS)
    throw new Error(`fan-out: only ${latencies.length} of ${FANOUT_WRITES * WATCHERS} events arrived`);
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), rtt50: pct(rtts, 50) };
}

async function main(): Promise<void> {
  const rss0 = rssMiB();
  // With a state directory, so the journal's cost is part of every write (as in the sandbox).
  const stateDir = mkdtempSync(join(tmpdir(), 'gantry-apiserver-bench-'));
  const api = await startApiServer({ stateDir });
  const t: Target = { url: api.url, ca: api.caPem, token: api.token };
  const dir = join(api.kubeconfigPath, '..');
  const bare = await bareServer(readFileSync(join(dir, 'server.crt'), 'utf8'), readFileSync(join(dir, 'server.key'), 'utf8'));
  const cm = (i: number) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `bench-${i}`, labels: { app: 'bench', shard: String(i % 16) } },
    data: { key: `value-${i}`, other: 'x'.repeat(64) },
  });
  try {
    const bareTarget = { url: bare.url, ca: api.caPem, token: api.token };
    await createMany(bareTarget, '/api/v1/namespaces/default/configmaps', cm, 2000); // warm-up: JIT and TLS, discarded
    const baseline = await createMany(bareTarget, '/api/v1/namespaces/default/configmaps', cm, N);
    const rssBefore = rssMiB();
    const cmRate = await createMany(t, '/api/v1/namespaces/default/configmaps', cm, N);
    const rssAfter = rssMiB();
    const jsonMiB = Buffer.byteLength(JSON.stringify(Array.from({ length: N }, (_, i) => cm(i)))) / 1024 / 1024;

    const crd = parse(readFileSync(join(packageRoot(), 'test', 'apiserver', 'fixtures', 'widget-crd.yaml'), 'utf8'));
    const agent = new Agent({ keepAlive: true });
    await call(t, agent, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    agent.destroy();
    const crRate = await createMany(
      t,
      '/apis/test.gantry.dev/v1/namespaces/default/widgets',
      (i) => ({
        apiVersion: 'test.gantry.dev/v1',
        kind: 'Widget',
        metadata: { name: `w-${i}`, labels: { app: 'bench' } },
        spec: { size: 'small', replicas: i % 5, tags: ['a', 'b'] },
      }),
      N,
    );

    const f = await fanout(api, t);
    const line = (label: string, value: string, ratio: string) => console.log(`${label.padEnd(52)} ${value.padStart(14)}   ${ratio}`);
    console.log(`API emulator bench (${N} objects, ${CONCURRENCY} requests in flight, in-process server and client, persisted state dir)`);
    line('bare HTTPS 201 echo (baseline)', `${baseline.toFixed(0)} req/s`, '1.00');
    line('create ConfigMap', `${cmRate.toFixed(0)} obj/s`, `${(cmRate / baseline).toFixed(2)} x baseline`);
    line(
      'create Widget (CRD schema: prune/default/validate)',
      `${crRate.toFixed(0)} obj/s`,
      `${(crRate / baseline).toFixed(2)} x baseline`,
    );
    line(
      `watch fan-out p50, ${WATCHERS} watchers, ${2 * N} objects stored`,
      `${f.p50.toFixed(2)} ms`,
      `${(f.p50 / f.rtt50).toFixed(2)} x write round trip (${f.rtt50.toFixed(2)} ms)`,
    );
    line(`watch fan-out p99`, `${f.p99.toFixed(2)} ms`, `${(f.p99 / f.rtt50).toFixed(2)} x write round trip`);
    line(
      'resident memory per 10k ConfigMaps',
      `${(((rssAfter - rssBefore) * 10_000) / N).toFixed(1)} MiB`,
      `${((rssAfter - rssBefore) / jsonMiB).toFixed(1)} x their JSON (${jsonMiB.toFixed(1)} MiB); process RSS ${rss0.toFixed(0)}→${rssAfter.toFixed(0)} MiB`,
    );
  } finally {
    await bare.stop();
    await api.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
