/**
 * The dashboard server against a real API server (the emulator, and kube-apiserver + etcd in
 * the real project): what /api/state and the event stream show, and the HTTP guards.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dashboard, startDashboard } from '../../dashboard/index.js';
import { NS, nextState, rawGet, startWorld, waitUntil, type World } from './world.js';

let w: World;
let d: Dashboard;
let metrics: http.Server;
let metricsText = '';
/** When set, each read counts this many more calls (100 OK, 10 failed): a rate that never drops to 0. */
let busy = false;
let reads = 0;

beforeAll(async () => {
  w = await startWorld();
  await w.addNode('node-a');
  await w.addNode('node-b', 'arm64');
  await w.addProvider('echo', 1);
  await w.setProviderStatus('echo', {
    readyReplicas: 1,
    conditions: [{ type: 'Ready', status: 'True', reason: 'AllReady', message: '1/1', lastTransitionTime: '2026-01-01T00:00:00Z' }],
  });
  await w.addInstance('echo-1', 'echo', 'node-a', { phase: 'Running', restartCount: 2 });
  await w.addGrant('caller', 'echo', '2999-01-01T00:00:00Z');
  // an agent's /metrics, as agent/call-metrics.ts writes it
  metrics = http.createServer((_req, res) => {
    if (busy) {
      reads++;
      metricsText = agentMetrics(10 + 100 * reads, 1 + 10 * reads);
    }
    res.end(metricsText);
  });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  metricsText = agentMetrics(10, 1);
  d = await startDashboard({
    kubeConfig: w.api.kc,
    port: 0,
    scrapeIntervalMs: 300,
    metricsUrls: [{ name: 'agent-node-a', url: `http://127.0.0.1:${(metrics.address() as any).port}/metrics` }],
  });
});

afterAll(async () => {
  await d?.stop();
  await new Promise((r) => metrics?.close(r));
  await w?.stop();
});

function agentMetrics(ok: number, failed: number): string {
  const l = 'namespace="apps",provider="echo"';
  return [
    '# TYPE gantry_provider_calls_total counter',
    `gantry_provider_calls_total{${l},operation="echo",code="OK"} ${ok}`,
    `gantry_provider_calls_total{${l},operation="echo",code="OVERLOADED"} ${failed}`,
    '# TYPE gantry_provider_call_duration_seconds histogram',
    `gantry_provider_call_duration_seconds_bucket{${l},operation="echo",le="0.001"} 0`,
    `gantry_provider_call_duration_seconds_bucket{${l},operation="echo",le="0.01"} ${ok}`,
    `gantry_provider_call_duration_seconds_bucket{${l},operation="echo",le="+Inf"} ${ok}`,
    `gantry_provider_call_duration_seconds_count{${l},operation="echo"} ${ok}`,
    `gantry_provider_calls_in_flight{${l}} 3`,
    '',
  ].join('\n');
}

describe('dashboard server', () => {
  it('prints a loopback URL and /api/state shows the Provider, its instance on its node, the grant and the user', async () => {
    expect(d.url).toBe(`http://127.0.0.1:${d.port}/`);
    const r = await rawGet(d.port, '/api/state');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('application/json');
    const s = JSON.parse(r.body);
    expect(s.version).toBe(1);
    expect(s.cluster.server).toBe(w.api.kc.getCurrentCluster()!.server);
    const p = s.providers.find((x: any) => x.name === 'echo');
    expect(p).toMatchObject({
      namespace: NS,
      replicas: 1,
      readyReplicas: 1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'AllReady' }],
    });
    const nodeA = s.nodes.find((n: any) => n.name === 'node-a');
    expect(nodeA).toMatchObject({
      archOs: 'amd64-linux',
      ready: true,
      instances: [{ name: 'echo-1', provider: 'echo', phase: 'Running', restarts: 2, oomKills: 0 }],
    });
    expect(s.nodes.find((n: any) => n.name === 'node-b')).toMatchObject({ archOs: 'arm64-linux', instances: [] });
    expect(s.grants).toEqual([
      expect.objectContaining({ name: 'caller', target: 'provider echo', operations: ['echo'], expires: '2999-01-01T00:00:00Z' }),
    ]);
    expect(s.logs).toEqual([expect.objectContaining({ repository: 'registry.test:5000/acme/echo', providers: [`${NS}/echo`] })]);
    expect(s.unavailable).toEqual([]);
  });

  it('shows call figures from the agent metrics: rate and error rate between two scrapes, totals, quantiles, in flight', async () => {
    busy = true;
    const s = await waitUntil('calls counted', async () => {
      const st = JSON.parse((await rawGet(d.port, '/api/state')).body);
      const c = st.providers.find((x: any) => x.name === 'echo')?.calls;
      return c?.totals.OK > 10 && c.rate > 0 ? c : undefined;
    });
    busy = false;
    expect((s.totals.OK - 10) / 100).toBe((s.totals.OVERLOADED - 1) / 10);
    expect(s.errorRate).toBeGreaterThan(0);
    expect(s.errorRate / s.rate).toBeCloseTo(10 / 110, 5);
    expect(s.p50Ms).toBeGreaterThan(1);
    expect(s.p50Ms).toBeLessThanOrEqual(10);
    expect(s.inFlight).toBe(3);
  });

  it('the event stream sends the state on connect, and a new one after a scale from 1 to 2', async () => {
    const first = await nextState(d.port, () => true);
    expect(first.providers.find((x: any) => x.name === 'echo').replicas).toBe(1);
    const waiting = nextState(d.port, (s) => s.providers.find((x: any) => x.name === 'echo')?.replicas === 2);
    await w.kube.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers/echo`, { spec: { replicas: 2 } });
    const s = await waiting;
    expect(s.providers.find((x: any) => x.name === 'echo').replicas).toBe(2);
  });

  it('counts an OOM kill the agent reports', async () => {
    await w.kube.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providerinstances/echo-1/status`, {
      status: { restartCount: 3, lastTermination: { reason: 'OOMKilled', at: '2026-01-01T00:00:01Z', message: 'over 64Mi' } },
    });
    const s = await nextState(d.port, (st) => st.nodes.some((n: any) => n.instances.some((i: any) => i.oomKills === 1)));
    const i = s.nodes.flatMap((n: any) => n.instances).find((x: any) => x.name === 'echo-1');
    expect(i).toMatchObject({ restarts: 3, oomKills: 1, lastTermination: { reason: 'OOMKilled' } });
  });

  it('serves the page with a CSP without inline script, nosniff, no referrer and no CORS header', async () => {
    for (const path of ['/', '/app.js', '/app.css', '/api/state']) {
      const r = await rawGet(d.port, path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-security-policy']).toContain("default-src 'self'");
      expect(r.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    }
    const page = await rawGet(d.port, '/');
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).not.toMatch(/<script>(?!<)/);
  });

  it('is read-only: other methods are 405, unknown paths 404', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const r = await rawGet(d.port, '/api/state', { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
    expect((await rawGet(d.port, '/api/nope')).status).toBe(404);
    expect((await rawGet(d.port, '/../package.json')).status).toBe(404);
  });

  it('refuses a DNS-rebinding request (a foreign name in Host) with 421 and no data', async () => {
    for (const host of ['evil.example', `evil.example:${d.port}`, 'localhost.evil.example', '127.0.0.1.evil.example', 'a b']) {
      const r = await rawGet(d.port, '/api/state', { host });
      expect(r.status, host).toBe(421);
      expect(r.body).not.toContain('echo');
    }
    // without any Host (HTTP/1.0) there is no name to check: refused too
    const net = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      let out = '';
      const sock = net.connect(d.port, '127.0.0.1', () => sock.write('GET /api/state HTTP/1.0\r\n\r\n'));
      sock.on('data', (c) => (out += c));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.[01] 421 /);
    for (const host of [`localhost:${d.port}`, `127.0.0.1:${d.port}`, `[::1]:${d.port}`, 'LOCALHOST']) {
      expect((await rawGet(d.port, '/api/state', { host })).status, host).toBe(200);
    }
  });

  it("--namespace: only that namespace's Providers, instances and grants; Nodes stay", async () => {
    const other = await startDashboard({
      kubeConfig: w.api.kc,
      port: 0,
      namespace: 'elsewhere',
      metricsUrls: [{ name: 'none', url: 'http://127.0.0.1:9/metrics' }],
    });
    try {
      const s = other.state();
      expect([s.providers, s.grants, s.nodes.flatMap((n) => n.instances)]).toEqual([[], [], []]);
      expect(s.nodes.map((n) => n.name).sort()).toEqual(['node-a', 'node-b']);
    } finally {
      await other.stop();
    }
  });

  it('says which port is in use instead of failing obscurely', async () => {
    await expect(startDashboard({ kubeConfig: w.api.kc, port: d.port })).rejects.toThrow(`port ${d.port} on 127.0.0.1 is in use`);
  });

  it('refuses a non-loopback address unless asked for explicitly', async () => {
    await expect(startDashboard({ kubeConfig: w.api.kc, port: 0, address: '0.0.0.0' })).rejects.toMatchObject({
      code: 'DASHBOARD_ADDRESS_NOT_LOCAL',
    });
  });
});
