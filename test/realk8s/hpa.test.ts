/**
 * The HPA path on the real control plane: kube-apiserver with the aggregation layer proxies
 * external.metrics.k8s.io to the Gantry controller's metrics API (deploy/components/hpa-metrics:
 * APIService, Service, RBAC), and a real kube-controller-manager running only the HPA
 * controller scales a Provider through its scale subresource on gantry_provider_calls_per_second
 * — up when the figure rises, down when it falls. The figures come from a source the test sets,
 * as the autoscaler's LoadStore gives them in the controller.
 *
 * The serving certificate is made by scripts/metrics-api-cert.sh, as an operator makes it.
 * The aggregator dials the Service's endpoint IP, and Endpoints may not be loopback: the metrics
 * API listens on this machine's first non-internal IPv4 address (skipped without one).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderFigures } from '../../controller/autoscale/contract.js';
import { type RunningController, startController } from '../../controller/index.js';
import { controllerManagerAvailable } from '../../sandbox/controlplane/index.js';
import { waitFor } from '../controller/cluster.js';
import { controlPlaneAvailable, GANTRY_NAMESPACE, realKubectl, startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const component = join(repo, 'deploy', 'components', 'hpa-metrics');
const NS = 'team-hpa';
const hostIp = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const blocker = !controlPlaneAvailable()
  ? 'the control plane is not built (scripts/control-plane.sh)'
  : !controllerManagerAvailable()
    ? 'kube-controller-manager is not built (scripts/cluster-parts.sh)'
    : !hostIp
      ? 'no non-loopback IPv4 address for the aggregator to reach'
      : undefined;

describe.skipIf(blocker !== undefined)(`the HPA path on the real control plane${blocker ? ` (skipped: ${blocker})` : ''}`, () => {
  const figures = new Map<string, ProviderFigures>();
  const setCallsPerSecond = (provider: string, callsPerSecond: number) =>
    figures.set(`${NS}/${provider}`, { callsPerSecond, inFlight: 0, overloadedPerSecond: 0, reporting: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'gantry-hpa-'));
  let api: TestApiServer;
  let ctl: RunningController | undefined;
  const kubectl = async (args: string[], kubeconfig = api.kubeconfigPath, input?: string) => {
    const p = run(realKubectl(), ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });
    if (input !== undefined) p.child.stdin!.end(input);
    return (await p).stdout;
  };
  const apply = (doc: unknown) =>
    kubectl(['apply', '--server-side', '--field-manager=gantry-tests', '-f', '-'], api.kubeconfigPath, JSON.stringify(doc));

  /** An autoscaling/v2 HPA on Provider `name`: 1–6 replicas, 10 calls/s per replica of gantry_provider_calls_per_second. */
  const hpaOn = (name: string, behavior?: unknown) => ({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'gantry.dev/v1alpha1', kind: 'Provider', name },
      minReplicas: 1,
      maxReplicas: 6,
      metrics: [
        {
          type: 'External',
          external: {
            metric: { name: 'gantry_provider_calls_per_second', selector: { matchLabels: { provider: name } } },
            target: { type: 'AverageValue', averageValue: '10' },
          },
        },
      ],
      ...(behavior ? { behavior } : {}),
    },
  });

  beforeAll(async () => {
    api = await startTestApiServer({ ground: 'real', controlPlane: { aggregator: true } });
    await kubectl(['apply', '--server-side', '-f', join(repo, 'crds')]);
    await kubectl(['apply', '--server-side', '-f', join(component, 'metrics-api.yaml'), '-f', join(component, 'rbac-metrics-api.yaml')]);
    // the serving certificate as an operator makes it: the Secret and the APIService's caBundle
    const pki = join(dir, 'metrics-api-pki');
    await run(join(repo, 'scripts', 'metrics-api-cert.sh'), [pki], {
      env: { ...process.env, KUBECONFIG: api.kubeconfigPath, PATH: `${dirname(realKubectl())}:${process.env.PATH}` },
      timeout: 60_000,
    });
    const secret = JSON.parse(await kubectl(['-n', GANTRY_NAMESPACE, 'get', 'secret', 'gantry-metrics-api-tls', '-o', 'json']));
    expect(Buffer.from(secret.data['tls.crt'], 'base64').toString()).toBe(readFileSync(join(pki, 'tls.crt'), 'utf8'));
    const serving = { cert: join(pki, 'tls.crt'), key: join(pki, 'tls.key') };
    // the controller as deploy/ runs it: its ServiceAccount, reading the aggregator's CA from the
    // extension-apiserver-authentication ConfigMap through the component's RoleBinding
    ctl = await startController({
      kubeConfig: (await api.identity('controller')).kc,
      namespace: GANTRY_NAMESPACE,
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      metricsApi: {
        addr: `${hostIp}:0`,
        certFile: serving.cert,
        keyFile: serving.key,
        figures: { figures: (ns, p) => figures.get(`${ns}/${p}`) },
      },
    });
    const port = Number(new URL(ctl.metricsApiUrl!).port);
    // no endpoints controller runs here: the Service's endpoints are written as one would be
    await apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'gantry-metrics-api-test',
        namespace: GANTRY_NAMESPACE,
        labels: { 'kubernetes.io/service-name': 'gantry-metrics-api' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostIp], conditions: { ready: true } }],
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'gantry-metrics-api', namespace: GANTRY_NAMESPACE },
      subsets: [{ addresses: [{ ip: hostIp }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
    });
    await kubectl(['wait', '--for=condition=Available', 'apiservice/v1beta1.external.metrics.k8s.io', '--timeout=60s']);
    await kubectl(['create', 'namespace', NS]);
  });

  afterAll(async () => {
    await ctl?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the figure through the aggregator, and the apiserver refuses a user without RBAC for external metrics', async () => {
    await apply({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'metered', namespace: NS },
      spec: { archive: { ref: '127.0.0.1:1/acme/metered' }, replicas: 1 },
    });
    await waitFor(
      'the Provider known to the controller',
      async () => JSON.parse(await kubectl(['-n', NS, 'get', 'provider', 'metered', '-o', 'json'])).status?.selector,
      30_000,
    );
    setCallsPerSecond('metered', 2.5);
    const path = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${NS}/gantry_provider_calls_per_second?labelSelector=provider%3Dmetered`;
    const list = JSON.parse(await kubectl(['get', '--raw', path]));
    expect(list).toMatchObject({
      kind: 'ExternalMetricValueList',
      items: [{ metricName: 'gantry_provider_calls_per_second', metricLabels: { provider: 'metered' }, value: '2500m' }],
    });
    // an unknown Provider is the metrics API's own 404, passed through the aggregator
    await expect(kubectl(['get', '--raw', path.replace('metered', 'ghost')])).rejects.toThrow(/Provider team-hpa\/ghost not found/);
    const nobody = await api.controlPlane!.serviceAccountKubeconfig(NS, 'nobody');
    await expect(kubectl(['get', '--raw', path], nobody.path)).rejects.toThrow(
      /cannot list resource "gantry_provider_calls_per_second" in API group "external.metrics.k8s.io" in the namespace "team-hpa"/,
    );
  });

  it('a real HPA scales a Provider up and down through its scale subresource on gantry_provider_calls_per_second', async () => {
    await apply({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'echo', namespace: NS },
      spec: { archive: { ref: '127.0.0.1:1/acme/echo' }, replicas: 1 },
    });
    const replicas = async () => JSON.parse(await kubectl(['-n', NS, 'get', 'provider', 'echo', '-o', 'json'])).spec.replicas as number;
    await waitFor(
      'the Provider status.selector (the HPA needs it)',
      async () => JSON.parse(await kubectl(['-n', NS, 'get', 'provider', 'echo', '-o', 'json'])).status?.selector,
      30_000,
    );
    setCallsPerSecond('echo', 8); // 8 calls/s against 10 per instance: one instance
    await apply(hpaOn('echo', { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 0 } }));
    await api.controlPlane!.startControllerManager(
      ['horizontal-pod-autoscaler-controller'],
      ['--horizontal-pod-autoscaler-sync-period=1s'],
    );
    const hpa = async () => JSON.parse(await kubectl(['-n', NS, 'get', 'hpa', 'echo', '-o', 'json']));
    // the HPA has read the figure (and so decided to stay at one) before the load rises. (Its
    // displayed average divides by status.replicas, which is 0 here: no agent runs instances.)
    const read = await waitFor(
      'the HPA reading the external metric',
      async () => {
        const h = await hpa();
        return (
          h.status?.conditions?.find(
            (c: { type: string; reason: string }) => c.type === 'ScalingActive' && c.reason === 'ValidMetricFound',
          ) && h
        );
      },
      45_000,
    ).catch(async (err) => {
      throw new Error(
        `${err.message}; the HPA: ${JSON.stringify((await hpa()).status)}; kube-controller-manager: ${readFileSync(join(api.controlPlane!.dir, 'kube-controller-manager.log'), 'utf8').slice(-3000)}`,
      );
    });
    expect(read.status.desiredReplicas).toBe(1);
    expect(await replicas()).toBe(1);

    setCallsPerSecond('echo', 35); // ceil(35 / 10) = 4
    await waitFor('the HPA scaling echo to 4', async () => (await replicas()) === 4, 45_000);
    const up = await hpa();
    expect(up.status.desiredReplicas).toBe(4);
    expect(up.status.conditions.find((c: { type: string }) => c.type === 'AbleToScale')).toMatchObject({ status: 'True' });

    setCallsPerSecond('echo', 12); // ceil(12 / 10) = 2
    await waitFor('the HPA scaling echo down to 2', async () => (await replicas()) === 2, 45_000);
  });

  it('an HPA on a Provider with spec.autoscale cannot move its replicas: the API server refuses its scale writes', async () => {
    await apply({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'owned', namespace: NS },
      spec: {
        archive: { ref: '127.0.0.1:1/acme/echo' },
        replicas: 2,
        autoscale: { minReplicas: 1, maxReplicas: 3, targetCallsPerSecondPerInstance: 10 },
      },
    });
    await waitFor(
      'the Provider status.selector',
      async () => JSON.parse(await kubectl(['-n', NS, 'get', 'provider', 'owned', '-o', 'json'])).status?.selector,
      30_000,
    );
    setCallsPerSecond('owned', 35); // the HPA wants 4
    await apply(hpaOn('owned'));
    // the kube-controller-manager of the test above runs the HPA controller
    const refused = await waitFor(
      'the HPA failing to rescale',
      async () => {
        const h = JSON.parse(await kubectl(['-n', NS, 'get', 'hpa', 'owned', '-o', 'json']));
        return h.status?.conditions?.find((c: { type: string; status: string }) => c.type === 'AbleToScale' && c.status === 'False');
      },
      45_000,
    );
    expect(refused.reason).toBe('FailedUpdateScale');
    expect(refused.message).toMatch(/spec.replicas is owned by spec.autoscale/);
    expect(JSON.parse(await kubectl(['-n', NS, 'get', 'provider', 'owned', '-o', 'json'])).spec.replicas).toBe(2);
  });
});
