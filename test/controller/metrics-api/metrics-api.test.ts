/**
 * The external metrics API on its own: what it answers the aggregator (discovery, values as
 * quantities, each refusal with its own Status), and the attacks on its authentication — no
 * client certificate, a certificate from another CA, a certificate of the right CA but a name
 * not allowed, a forged X-Remote-User — each refused with its own reason. The figures come
 * from a source the test sets, as the autoscaler's LoadStore gives them in the controller.
 */
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderFigures } from '../../../controller/autoscale/contract.js';
import {
  type MetricsApiServer,
  quantity,
  providerOfSelector,
  requestHeaderFromConfigMap,
  serveMetricsApi,
} from '../../../controller/metrics-api/index.js';
import { type CertFiles, ensureCa, ensureLeaf } from '../../../sandbox/controlplane/certs.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-metrics-api-'));
const figures = new Map<string, ProviderFigures>();
const providers = new Map<string, { readyReplicas: number }>();
const base = '/apis/external.metrics.k8s.io/v1beta1';
const NOW = Date.parse('2026-12-06T12:00:00.250Z');
let servingCa: CertFiles, proxy: CertFiles, intruder: CertFiles, stranger: CertFiles;
let api: MetricsApiServer, strict: MetricsApiServer;

const fig = (callsPerSecond: number, inFlight: number): ProviderFigures => ({
  callsPerSecond,
  inFlight,
  overloadedPerSecond: 0,
  reporting: 1,
});

interface Reply {
  status: number;
  body: { kind?: string; message?: string; reason?: string; items?: unknown[]; resources?: { name: string }[] } & Record<string, unknown>;
}

function get(server: MetricsApiServer, path: string, o: { client?: CertFiles; user?: string; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${server.url}${path}`,
      {
        method: o.method ?? 'GET',
        ca: servingCa.certPem,
        cert: o.client?.certPem,
        key: o.client?.keyPem,
        headers: o.user ? { 'X-Remote-User': o.user, 'X-Remote-Group': 'system:authenticated' } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const frontProxyCa = await ensureCa(dir, 'front-proxy-ca', 'front-proxy-ca');
  proxy = await ensureLeaf(dir, 'proxy', frontProxyCa, { cn: 'front-proxy-client', usage: 'clientAuth' });
  intruder = await ensureLeaf(dir, 'intruder', frontProxyCa, { cn: 'someone-else', usage: 'clientAuth' });
  const otherCa = await ensureCa(dir, 'other-ca', 'front-proxy-ca'); // same name, other key
  stranger = await ensureLeaf(dir, 'stranger', otherCa, { cn: 'front-proxy-client', usage: 'clientAuth' });
  servingCa = await ensureCa(dir, 'serving-ca', 'gantry-metrics-api-ca');
  const serving = await ensureLeaf(dir, 'serving', servingCa, { cn: 'gantry-metrics-api', usage: 'serverAuth', ips: ['127.0.0.1'] });
  const source = { figures: (ns: string, p: string) => figures.get(`${ns}/${p}`) };
  const provider = (ns: string, p: string) => providers.get(`${ns}/${p}`);
  const common = { addr: '127.0.0.1:0', certPem: serving.certPem, keyPem: serving.keyPem, figures: source, provider, now: () => NOW };
  const configMap = { 'requestheader-client-ca-file': frontProxyCa.certPem };
  api = await serveMetricsApi({ ...common, requestHeader: requestHeaderFromConfigMap(configMap) });
  strict = await serveMetricsApi({
    ...common,
    requestHeader: requestHeaderFromConfigMap({ ...configMap, 'requestheader-allowed-names': '["front-proxy-client"]' }),
  });
});

afterAll(async () => {
  await api?.close();
  await strict?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('external metrics API: answers', () => {
  it('serves discovery to the aggregator: the group version lists both metrics as namespaced resources', async () => {
    const r = await get(api, base, { client: proxy });
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('APIResourceList');
    expect(r.body.resources?.map((x) => x.name)).toEqual(['gantry_provider_calls_per_second', 'gantry_provider_calls_in_flight']);
    expect((await get(api, '/apis/external.metrics.k8s.io', { client: proxy })).body.preferredVersion).toEqual({
      groupVersion: 'external.metrics.k8s.io/v1beta1',
      version: 'v1beta1',
    });
  });

  it("answers a Provider's figure as an ExternalMetricValueList in milli-units", async () => {
    providers.set('team-a/echo', { readyReplicas: 2 });
    figures.set('team-a/echo', fig(1.5, 2));
    const r = await get(api, `${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3Decho`, {
      client: proxy,
      user: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler',
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      kind: 'ExternalMetricValueList',
      apiVersion: 'external.metrics.k8s.io/v1beta1',
      items: [
        {
          metricName: 'gantry_provider_calls_per_second',
          metricLabels: { provider: 'echo' },
          timestamp: '2026-12-06T12:00:00Z',
          value: '1500m',
        },
      ],
    });
    const inFlight = await get(api, `${base}/namespaces/team-a/gantry_provider_calls_in_flight?labelSelector=provider%3D%3Decho`, {
      client: proxy,
      user: 'u',
    });
    expect(inFlight.body.items).toMatchObject([{ value: '2' }]);
  });

  it('answers 0 for a Provider with no Ready instance and no report, and 503 when Ready instances have not reported', async () => {
    providers.set('team-a/idle', { readyReplicas: 0 });
    const idle = await get(api, `${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3Didle`, {
      client: proxy,
      user: 'u',
    });
    expect(idle.body.items).toMatchObject([{ value: '0' }]);
    providers.set('team-a/silent', { readyReplicas: 3 });
    const silent = await get(api, `${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3Dsilent`, {
      client: proxy,
      user: 'u',
    });
    expect(silent.status).toBe(503);
    expect(silent.body.message).toBe(
      'no load report from the 3 Ready instance(s) of Provider team-a/silent: gantry_provider_calls_per_second is unknown',
    );
  });

  it('refuses an unknown Provider or metric (404), a missing or foreign selector (400) and a write (405), each saying which', async () => {
    const ask = (path: string, method?: string) => get(api, path, { client: proxy, user: 'u', method });
    const cases: [string, number, string][] = [
      [`${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3Dghost`, 404, 'Provider team-a/ghost not found'],
      [`${base}/namespaces/team-a/cpu_usage?labelSelector=provider%3Decho`, 404, 'metric "cpu_usage" is not served here'],
      [`${base}/namespaces/team-a/gantry_provider_calls_per_second`, 400, 'labelSelector is required'],
      [
        `${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=app%3Decho`,
        400,
        'only provider=<Provider name> is supported',
      ],
      [
        `${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3DEcho_1`,
        400,
        '"Echo_1" is not a Provider name',
      ],
      [`${base}/namespaces/Team_A/gantry_provider_calls_per_second?labelSelector=provider%3Decho`, 400, 'is not a namespace name'],
    ];
    for (const [path, code, message] of cases) {
      const r = await ask(path);
      expect([r.status, r.body.kind, r.body.code], path).toEqual([code, 'Status', code]);
      expect(r.body.message, path).toContain(message);
    }
    const post = await ask(`${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3Decho`, 'POST');
    expect([post.status, post.body.reason]).toEqual([405, 'MethodNotAllowed']);
  });

  it('writes quantities canonically and reads only provider=<name> selectors', () => {
    expect([0, 0.0004, 0.0006, 1, 1.5, 12.345, -2].map(quantity)).toEqual(['0', '0', '1m', '1', '1500m', '12345m', '0']);
    expect(providerOfSelector('provider=echo')).toEqual({ provider: 'echo' });
    expect(providerOfSelector(' provider == echo ')).toEqual({ provider: 'echo' });
    expect(providerOfSelector('provider=echo,app=x')).toHaveProperty('error');
    expect(providerOfSelector('provider in (echo)')).toHaveProperty('error');
    expect(providerOfSelector('provider!=echo')).toHaveProperty('error');
  });
});

describe('external metrics API: only the aggregator gets in (attacks)', () => {
  const valuePath = `${base}/namespaces/team-a/gantry_provider_calls_per_second?labelSelector=provider%3Decho`;

  it('refuses a request with no client certificate, whatever X-Remote-User claims', async () => {
    figures.set('team-a/echo', fig(1.5, 2));
    for (const path of [valuePath, base]) {
      const r = await get(api, path, { user: 'system:admin' });
      expect([r.status, r.body.reason]).toEqual([401, 'Unauthorized']);
      expect(r.body.message).toMatch(/^no client certificate: only the Kubernetes API aggregator/);
      expect(JSON.stringify(r.body)).not.toContain('1500m');
    }
  });

  it('refuses a client certificate from another CA, even with the proxy name', async () => {
    const r = await get(api, valuePath, { client: stranger, user: 'system:admin' });
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(
      /^client certificate "front-proxy-client" does not verify against the requestheader client CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/,
    );
  });

  it('refuses a certificate of the right CA whose CN is not an allowed proxy name, when names are configured', async () => {
    const r = await get(strict, valuePath, { client: intruder, user: 'system:admin' });
    expect([r.status, r.body.reason]).toEqual([403, 'Forbidden']);
    expect(r.body.message).toBe('client certificate CN "someone-else" is not in requestheader-allowed-names (front-proxy-client)');
    expect((await get(strict, valuePath, { client: proxy, user: 'u' })).status).toBe(200);
  });

  it('refuses a metric value when the aggregator names no user (discovery needs none)', async () => {
    const r = await get(api, valuePath, { client: proxy });
    expect(r.status).toBe(401);
    expect(r.body.message).toBe('no user: the aggregator names the caller in X-Remote-User');
    expect((await get(api, base, { client: proxy })).status).toBe(200);
  });

  it('refuses to start from a ConfigMap without the requestheader CA or with malformed lists', () => {
    expect(() => requestHeaderFromConfigMap({ 'client-ca-file': 'x' })).toThrow(/has no requestheader-client-ca-file/);
    expect(() => requestHeaderFromConfigMap(undefined)).toThrow(/has no requestheader-client-ca-file/);
    const ca = proxy.certPem;
    expect(() => requestHeaderFromConfigMap({ 'requestheader-client-ca-file': ca, 'requestheader-allowed-names': 'front-proxy' })).toThrow(
      'requestheader-allowed-names: not a JSON list of strings',
    );
    expect(() => requestHeaderFromConfigMap({ 'requestheader-client-ca-file': ca, 'requestheader-username-headers': '[]' })).toThrow(
      'requestheader-username-headers: empty',
    );
    expect(
      requestHeaderFromConfigMap({ 'requestheader-client-ca-file': ca, 'requestheader-username-headers': '["X-User"]' }),
    ).toMatchObject({
      allowedNames: [],
      usernameHeaders: ['X-User'],
      groupHeaders: ['X-Remote-Group'],
    });
  });
});
