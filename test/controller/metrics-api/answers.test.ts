/**
 * The external metrics API's decisions as functions, without TLS: each discovery document and
 * Status exactly, the selector and name rules at their edges, requestheader authentication's
 * rules on a socket's verification result (the real handshakes are metrics-api.test.ts's), and
 * the extension-apiserver-authentication ConfigMap's reading.
 */
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { ProviderFigures } from '../../../controller/autoscale/contract.js';
import {
  authenticate,
  discovery,
  metricValue,
  providerOfSelector,
  readRequestHeaderConfig,
  type RequestHeaderConfig,
  requestHeaderFromConfigMap,
} from '../../../controller/metrics-api/index.js';
import { validNamespace } from '../../../controller/metrics-api/values.js';

const GV = 'external.metrics.k8s.io/v1beta1';
const group = {
  name: 'external.metrics.k8s.io',
  versions: [{ groupVersion: GV, version: 'v1beta1' }],
  preferredVersion: { groupVersion: GV, version: 'v1beta1' },
};

describe('discovery', () => {
  it('serves /apis, the group and the version, and nothing else', () => {
    expect(discovery('/apis')).toEqual({ status: 200, body: { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] } });
    expect(discovery('/apis/external.metrics.k8s.io')).toEqual({ status: 200, body: { kind: 'APIGroup', apiVersion: 'v1', ...group } });
    const resource = (name: string) => ({ name, singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] });
    expect(discovery(`/apis/${GV}`)).toEqual({
      status: 200,
      body: {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: GV,
        resources: [resource('gantry_provider_calls_per_second'), resource('gantry_provider_calls_in_flight')],
      },
    });
    for (const p of ['/', '/api', '/apis/', '/apis/custom.metrics.k8s.io', `/apis/${GV}/namespaces`])
      expect(discovery(p), p).toBeUndefined();
  });
});

describe('metric values', () => {
  const figures = new Map<string, ProviderFigures>();
  const src = {
    figures: { figures: (ns: string, p: string) => figures.get(`${ns}/${p}`) },
    provider: (ns: string, p: string) => (ns === 'ns' && p !== 'ghost' ? { readyReplicas: p === 'idle' ? 0 : 1 } : undefined),
    now: () => Date.parse('2026-12-06T12:00:59.999Z'),
  };
  const path = (metric = 'gantry_provider_calls_per_second', ns = 'ns') => `/apis/${GV}/namespaces/${ns}/${metric}`;
  const failure = (code: number, reason: string, message: string) => ({
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
  });

  it('answers one item with the figure, its labels and the time in whole seconds', () => {
    figures.set('ns/echo', { callsPerSecond: 0.25, inFlight: 7, overloadedPerSecond: 0, reporting: 2 });
    expect(metricValue(path(), 'provider=echo', src)).toEqual({
      status: 200,
      body: {
        kind: 'ExternalMetricValueList',
        apiVersion: GV,
        metadata: {},
        items: [
          {
            metricName: 'gantry_provider_calls_per_second',
            metricLabels: { provider: 'echo' },
            timestamp: '2026-12-06T12:00:59Z',
            value: '250m',
          },
        ],
      },
    });
    expect(metricValue(path('gantry_provider_calls_in_flight'), 'provider=echo', src).body).toMatchObject({ items: [{ value: '7' }] });
    expect(metricValue(path(), 'provider=idle', src).body).toMatchObject({ items: [{ value: '0' }] });
  });

  it('gives each refusal its own Status', () => {
    expect(metricValue('/apis/other', 'provider=echo', src)).toEqual(failure(404, 'NotFound', 'no such path: /apis/other'));
    expect(metricValue(path('x', 'Bad_NS'), 'provider=echo', src)).toEqual(
      failure(400, 'BadRequest', 'namespace "Bad_NS" is not a namespace name'),
    );
    expect(metricValue(path('toString'), 'provider=echo', src)).toEqual(
      failure(
        404,
        'NotFound',
        'metric "toString" is not served here (served: gantry_provider_calls_per_second, gantry_provider_calls_in_flight)',
      ),
    );
    expect(metricValue(path(), null, src)).toEqual(failure(400, 'BadRequest', 'labelSelector is required: provider=<Provider name>'));
    expect(metricValue(path(), 'provider=ghost', src)).toEqual(failure(404, 'NotFound', 'Provider ns/ghost not found'));
    expect(metricValue(path(), 'provider=silent', src)).toEqual(
      failure(
        503,
        'ServiceUnavailable',
        'no load report from the 1 Ready instance(s) of Provider ns/silent: gantry_provider_calls_per_second is unknown',
      ),
    );
    figures.set('ns/broken', { callsPerSecond: Number.NaN, inFlight: Number.POSITIVE_INFINITY, overloadedPerSecond: 0, reporting: 1 });
    expect(metricValue(path(), 'provider=broken', src)).toEqual(
      failure(503, 'ServiceUnavailable', 'gantry_provider_calls_per_second of Provider ns/broken is not a number (NaN)'),
    );
    expect(metricValue(path('gantry_provider_calls_in_flight'), 'provider=broken', src).status).toBe(503);
  });
});

describe('names and selectors', () => {
  it('takes namespaces as DNS labels of at most 63 characters', () => {
    for (const ns of ['a', 'team-a', '0', 'a'.repeat(63)]) expect(validNamespace(ns), ns).toBe(true);
    for (const ns of ['', '-a', 'a-', 'A', 'a.b', 'a_b', 'xa-', 'a'.repeat(64)]) expect(validNamespace(ns), ns).toBe(false);
  });

  it('takes exactly provider=<DNS subdomain of at most 253 characters>', () => {
    for (const name of ['echo', 'a.b', 'ab.c-d', 'a-b.c', 'a.b-c.d', 'a.b--cd', 'a'.repeat(253)])
      expect(providerOfSelector(`provider=${name}`), name).toEqual({ provider: name });
    for (const name of ['a.', '.a', 'a..b', 'a.-b', 'a.b-', 'a-.b', 'a._b', 'a.b_', 'a.b_c', 'A', 'a'.repeat(254)])
      expect(providerOfSelector(`provider=${name}`), name).toEqual({
        error: `labelSelector ${JSON.stringify(`provider=${name}`)}: ${JSON.stringify(name)} is not a Provider name`,
      });
    for (const s of ['', '   ', null])
      expect(providerOfSelector(s)).toEqual({ error: 'labelSelector is required: provider=<Provider name>' });
    for (const s of ['xprovider=echo', 'provider=echo x', 'provider=echo,app=x', 'app=echo', 'provider!=echo'])
      expect(providerOfSelector(s), s).toEqual({ error: `labelSelector ${JSON.stringify(s)}: only provider=<Provider name> is supported` });
  });
});

describe('requestheader authentication', () => {
  const cfg: RequestHeaderConfig = {
    clientCaPem: '',
    allowedNames: [],
    usernameHeaders: ['X-Remote-User', 'X-Other-User'],
    groupHeaders: ['X-Remote-Group', 'X-Other-Group'],
  };
  const socket = (cert: object, authorized: boolean, authorizationError?: string) =>
    ({ getPeerCertificate: () => cert, authorized, authorizationError }) as unknown as TLSSocket;
  const proxy = { subject: { CN: 'front-proxy-client' } };

  it('refuses a missing certificate, an unverified one and an unlisted name, each with its reason', () => {
    expect(authenticate(socket({}, false), { 'x-remote-user': 'admin' }, cfg)).toMatchObject({ ok: false, reason: 'NoClientCertificate' });
    expect(authenticate(socket({ subject: {} }, false, 'CERT_HAS_EXPIRED'), {}, cfg)).toEqual({
      ok: false,
      reason: 'UntrustedClientCertificate',
      message: 'client certificate "" does not verify against the requestheader client CA (CERT_HAS_EXPIRED)',
    });
    expect(authenticate(socket({ issuer: {} }, false, 'X'), {}, cfg)).toMatchObject({ reason: 'UntrustedClientCertificate' });
    const strict = { ...cfg, allowedNames: ['front-proxy-client', 'aggregator'] };
    expect(authenticate(socket({ subject: { CN: ['front-proxy-client', 'x'] } }, true), {}, strict)).toEqual({
      ok: false,
      reason: 'ProxyNameNotAllowed',
      message: 'client certificate CN "" is not in requestheader-allowed-names (front-proxy-client, aggregator)',
    });
    expect(authenticate(socket({ issuer: {} }, true), {}, strict)).toMatchObject({ reason: 'ProxyNameNotAllowed' });
    expect(authenticate(socket({ subject: { CN: 'aggregator' } }, true), {}, strict)).toEqual({ ok: true, proxy: 'aggregator' });
  });

  it('takes the user from the first non-empty username header, and every group', () => {
    expect(authenticate(socket(proxy, true), {}, cfg)).toEqual({ ok: true, proxy: 'front-proxy-client' });
    expect(authenticate(socket(proxy, true), { 'x-remote-user': '' }, cfg)).toEqual({ ok: true, proxy: 'front-proxy-client' });
    expect(
      authenticate(socket(proxy, true), { 'x-remote-user': '', 'x-other-user': 'bob', 'x-other-group': ['g1', '', 'g2'] }, cfg),
    ).toEqual({ ok: true, proxy: 'front-proxy-client', caller: { user: 'bob', groups: ['g1', 'g2'] } });
    expect(authenticate(socket(proxy, true), { 'x-remote-user': 'alice', 'x-other-user': 'bob', 'x-remote-group': 'g0' }, cfg)).toEqual({
      ok: true,
      proxy: 'front-proxy-client',
      caller: { user: 'alice', groups: ['g0'] },
    });
  });
});

describe('the extension-apiserver-authentication ConfigMap', () => {
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return [(e as { code?: string }).code, (e as Error).message];
    }
    return undefined;
  };

  it('reads kube-system/extension-apiserver-authentication, and says how to fix a failed read', async () => {
    const asked: string[] = [];
    const data = { 'requestheader-client-ca-file': ca, 'requestheader-allowed-names': '["front-proxy-client"]' };
    const client = {
      get: async (p: string) => {
        asked.push(p);
        return { data };
      },
    };
    expect(await readRequestHeaderConfig(client)).toEqual({
      clientCaPem: ca,
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['X-Remote-User'],
      groupHeaders: ['X-Remote-Group'],
    });
    expect(asked).toEqual(['/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication']);
    const denied = { get: async () => Promise.reject(new Error('forbidden: cannot get configmaps')) };
    await expect(readRequestHeaderConfig(denied)).rejects.toMatchObject({
      code: 'REQUESTHEADER_CONFIG',
      message:
        "cannot read kube-system/extension-apiserver-authentication (the aggregator's client CA): forbidden: cannot get configmaps; grant the controller the extension-apiserver-authentication-reader Role or give --requestheader-client-ca",
    });
    await expect(readRequestHeaderConfig({ get: async () => ({}) })).rejects.toThrow(/has no requestheader-client-ca-file/);
  });

  it('refuses a missing or non-PEM CA and malformed lists, naming the key', () => {
    expect(code(() => requestHeaderFromConfigMap({ 'requestheader-client-ca-file': 'not a certificate' }))).toEqual([
      'REQUESTHEADER_CONFIG',
      'kube-system/extension-apiserver-authentication has no requestheader-client-ca-file: the kube-apiserver runs without the aggregation layer (--requestheader-client-ca-file), so no request could be authenticated',
    ]);
    for (const key of ['requestheader-username-headers', 'requestheader-allowed-names', 'requestheader-group-headers'])
      for (const bad of ['X-Remote-User', '"X-Remote-User"', '[1]', '["a", null]', '{}'])
        expect(
          code(() => requestHeaderFromConfigMap({ 'requestheader-client-ca-file': ca, [key]: bad })),
          `${key}=${bad}`,
        ).toEqual(['REQUESTHEADER_CONFIG', `${key}: not a JSON list of strings`]);
    expect(code(() => requestHeaderFromConfigMap({ 'requestheader-client-ca-file': ca, 'requestheader-username-headers': '[]' }))).toEqual([
      'REQUESTHEADER_CONFIG',
      'requestheader-username-headers: empty',
    ]);
  });

  it('takes the kube-apiserver defaults for absent or empty keys, and the lists given', () => {
    const defaults = { clientCaPem: ca, allowedNames: [], usernameHeaders: ['X-Remote-User'], groupHeaders: ['X-Remote-Group'] };
    expect(requestHeaderFromConfigMap({ 'requestheader-client-ca-file': ca })).toEqual(defaults);
    expect(
      requestHeaderFromConfigMap({
        'requestheader-client-ca-file': ca,
        'requestheader-username-headers': '',
        'requestheader-allowed-names': '',
        'requestheader-group-headers': '',
      }),
    ).toEqual(defaults);
    expect(
      requestHeaderFromConfigMap({
        'requestheader-client-ca-file': ca,
        'requestheader-username-headers': '["X-U"]',
        'requestheader-allowed-names': '["p"]',
        'requestheader-group-headers': '["X-G"]',
      }),
    ).toEqual({ clientCaPem: ca, allowedNames: ['p'], usernameHeaders: ['X-U'], groupHeaders: ['X-G'] });
  });
});
