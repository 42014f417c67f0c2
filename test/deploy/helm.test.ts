/**
 * The Helm chart deploy/helm/gantry, with Helm v4.3.2 (scripts/helm.sh): `helm lint --strict` is
 * clean; with default values it renders exactly the objects of `kubectl kustomize deploy/base`
 * (keyed by apiVersion/kind/namespace/name, deep-compared, only Helm's own labels and the CRDs'
 * keep annotation allowed on top); each value changes what it should and nothing else; and
 * values.schema.json refuses bad values naming the field. Installing it on a real API server is
 * helm-install.test.ts.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { apiGround } from '../support/apiserver.js';
import { CHART, helm, helmMissing } from '../support/helm.js';
import {
  HELM_ANNOTATIONS,
  HELM_LABELS,
  byKey,
  helmHome,
  keyOf,
  kustomize,
  kustomizeWithComponent,
  parseStream,
  render,
  setArgs,
  trustPolicy,
  withoutHelmMetadata,
} from './helm-render.js';
import { type Manifest, validateManifest } from './schema.js';

const base = join(packageRoot(), 'deploy', 'base');
const missing = helmMissing();
// rendering asks no API server: once, on the emulated project's run
const skip = missing ?? (apiGround() === 'real' ? 'rendering needs no API server: it runs on the emulated ground' : undefined);
let home = '';
let defaults: Manifest[] = [];

const get = (ms: Manifest[], kind: string, name: string): any => {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`${kind} ${name} not rendered`);
  return m;
};
const container = (ms: Manifest[], kind: string, name: string, c: string): any =>
  get(ms, kind, name).spec.template.spec.containers.find((x: { name: string }) => x.name === c);
const script = (ms: Manifest[], kind: string, name: string, c: string): string => container(ms, kind, name, c).args.join('\n');
const natsUrls = (n: number): string =>
  Array.from({ length: n }, (_, i) => `tls://gantry-nats-${i}.gantry-nats-headless.gantry-system.svc:4222`).join(',');

describe.skipIf(skip)(`the Helm chart (${skip ?? 'helm ' + CHART})`, () => {
  beforeAll(async () => {
    home = helmHome();
    defaults = await render(home);
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('helm lint --strict is clean, with the defaults and with the test hook on', async () => {
    for (const values of [{}, { 'tests.call.enabled': true, 'tests.call.credsSecret': 'caller' }]) {
      const r = await helm(['lint', '--strict', CHART, ...setArgs(values)], home);
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(r.out).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('with default values: the same objects as kubectl kustomize deploy/base, host keeper included, and the trust policy the release owns', () => {
    const want = byKey([...kustomize(base), ...trustPolicy(base)]);
    const got = byKey(defaults);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    expect(got.has('apps/v1/DaemonSet/gantry-system/gantry-host-keeper')).toBe(true);
    for (const [k, m] of got) expect(withoutHelmMetadata(m), k).toEqual(want.get(k));
    // what was taken off is exactly Helm's own: its labels on every object, keep on the CRDs only
    for (const m of defaults) {
      const labels = (m.metadata.labels ?? {}) as Record<string, string>;
      expect(labels['app.kubernetes.io/managed-by'], keyOf(m)).toBe('Helm');
      expect(labels['helm.sh/chart'], keyOf(m)).toBe('gantry-0.2.0');
      const keep = ((m.metadata.annotations ?? {}) as Record<string, string>)[HELM_ANNOTATIONS[0]];
      expect(keep, keyOf(m)).toBe(m.kind === 'CustomResourceDefinition' ? 'keep' : undefined);
    }
    expect(HELM_LABELS).toHaveLength(3);
  });

  it('the images: repository, tag (the appVersion by default) and pull policy, for gantry and NATS apart', async () => {
    const images = (ms: Manifest[]) =>
      ms
        .filter((m) => m.kind === 'DaemonSet' || m.kind === 'Deployment' || m.kind === 'StatefulSet')
        .flatMap((m: any) => [...(m.spec.template.spec.initContainers ?? []), ...m.spec.template.spec.containers])
        .map((c: any) => `${c.image} ${c.imagePullPolicy}`)
        .sort();
    expect(images(defaults)).toEqual([...Array(5).fill('gantry:0.2.0 IfNotPresent'), 'nats:2.10-alpine IfNotPresent']);
    const ms = await render(home, {
      image: { repository: 'registry.example.com:5000/gantry', tag: '0.2.1', pullPolicy: 'Always' },
      'nats.image': { repository: 'mirror.example.com/nats', tag: '2.10.29-alpine', pullPolicy: 'Never' },
    });
    expect(images(ms)).toEqual(
      ['mirror.example.com/nats:2.10.29-alpine Never', ...Array(5).fill('registry.example.com:5000/gantry:0.2.1 Always')].sort(),
    );
  });

  it('nats.replicas 5: the StatefulSet, its 5 routes and every client URL list (controller, agent, test hook)', async () => {
    const ms = await render(home, { 'nats.replicas': 5, 'tests.call.enabled': true, 'tests.call.credsSecret': 'caller' });
    expect(get(ms, 'StatefulSet', 'gantry-nats').spec.replicas).toBe(5);
    const conf: string = get(ms, 'ConfigMap', 'gantry-nats').data['nats.conf'];
    const routes = conf.match(/nats-route:\/\/\S+/g);
    expect(routes).toEqual(
      Array.from({ length: 5 }, (_, i) => `nats-route://gantry-nats-${i}.gantry-nats-headless.gantry-system.svc:6222`),
    );
    expect(script(ms, 'Deployment', 'gantry-controller', 'controller')).toContain(`--membrane-nats=${natsUrls(5)} `);
    expect(script(ms, 'DaemonSet', 'gantry-agent', 'agent')).toContain(`--nats=${natsUrls(5)} `);
    expect(get(ms, 'Pod', 'gantry-test-call').spec.containers[0].args).toContain(`--nats=${natsUrls(5)}`);
    expect(get(ms, 'PodDisruptionBudget', 'gantry-nats').spec.maxUnavailable).toBe(1);
    // a single server: one route (to itself, which the server drops) and one URL
    const one = await render(home, { 'nats.replicas': 1 });
    expect(get(one, 'ConfigMap', 'gantry-nats').data['nats.conf'].match(/nats-route:\/\/\S+/g)).toHaveLength(1);
    expect(script(one, 'DaemonSet', 'gantry-agent', 'agent')).toContain(`--nats=${natsUrls(1)} `);
  });

  it('controller replicas, log levels, NATS disruption budget and storage', async () => {
    const ms = await render(home, {
      'controller.replicas': 3,
      'controller.logLevel': 'debug',
      'agent.logLevel': 'warn',
      'hostKeeper.orphanGrace': '5m',
      'nats.maxUnavailable': 2,
      'nats.storage': '1Gi',
      'nats.storageClassName': 'fast',
    });
    expect(get(ms, 'Deployment', 'gantry-controller').spec.replicas).toBe(3);
    const env = (kind: string, name: string, c: string) =>
      Object.fromEntries(container(ms, kind, name, c).env.map((e: any) => [e.name, e.value]));
    expect(env('Deployment', 'gantry-controller', 'controller').GANTRY_LOG_LEVEL).toBe('debug');
    expect(env('DaemonSet', 'gantry-agent', 'agent').GANTRY_LOG_LEVEL).toBe('warn');
    expect(container(ms, 'DaemonSet', 'gantry-host-keeper', 'keeper').args).toContain('--orphan-grace=5m');
    expect(get(ms, 'PodDisruptionBudget', 'gantry-nats').spec.maxUnavailable).toBe(2);
    const claim = get(ms, 'StatefulSet', 'gantry-nats').spec.volumeClaimTemplates[0].spec;
    expect(claim).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '1Gi' } } });
  });

  it('trust: issuers, plain-HTTP registries, log keys and require-log in gantry-trust', async () => {
    const issuers = ['A'.repeat(56), `A${'B'.repeat(55)}`];
    const ms = await render(home, {
      'trust.trustedIssuers': issuers,
      'trust.plainHttpRegistries': ['registry.gantry-system.svc:5000'],
      'trust.logKeys': ['registry.example.com/team/=log+1234abcd+AbCd', 'other+5678+EfGh'],
      'trust.requireLog': true,
    });
    expect(get(ms, 'ConfigMap', 'gantry-trust').data).toEqual({
      'trusted-issuers': issuers.join(','),
      'plain-http-registries': 'registry.gantry-system.svc:5000',
      'log-keys': 'registry.example.com/team/=log+1234abcd+AbCd,other+5678+EfGh',
      'require-log': 'true',
    });
    expect(get(defaults, 'ConfigMap', 'gantry-trust').data).toEqual({
      'trusted-issuers': '',
      'plain-http-registries': '',
      'log-keys': '',
      'require-log': 'false',
    });
  });

  it('resources and node selection per component (controller, agent, host keeper, NATS)', async () => {
    const comps = [
      ['controller', 'Deployment', 'gantry-controller', 'controller'],
      ['agent', 'DaemonSet', 'gantry-agent', 'agent'],
      ['hostKeeper', 'DaemonSet', 'gantry-host-keeper', 'keeper'],
      ['nats', 'StatefulSet', 'gantry-nats', 'nats'],
    ] as const;
    const values: Record<string, unknown> = {};
    comps.forEach(([v], i) => {
      // whole maps: Helm merges a map given into the default's, so a key left out keeps its default
      values[`${v}.resources`] = { requests: { cpu: `${i + 1}00m`, memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } };
      values[`${v}.nodeSelector`] = { [`pool-${v}`]: 'yes' };
      values[`${v}.tolerations`] = [{ key: `only-${v}`, operator: 'Exists', effect: 'NoSchedule' }];
      values[`${v}.affinity`] = {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: i + 1, preference: { matchExpressions: [{ key: v, operator: 'Exists' }] } },
          ],
        },
      };
    });
    const ms = await render(home, values);
    comps.forEach(([v, kind, name, c], i) => {
      const pod = get(ms, kind, name).spec.template.spec;
      expect(container(ms, kind, name, c).resources, v).toEqual({
        requests: { cpu: `${i + 1}00m`, memory: '1Gi' },
        limits: { cpu: '2', memory: '2Gi' },
      });
      // a map given is merged into the default (kubernetes.io/os stays for the DaemonSets); lists and affinity replace it
      expect(pod.nodeSelector[`pool-${v}`], v).toBe('yes');
      expect(pod.tolerations, v).toEqual([{ key: `only-${v}`, operator: 'Exists', effect: 'NoSchedule' }]);
      expect(pod.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight, v).toBe(i + 1);
    });
    // no other container changed: the init containers keep their own small budget
    expect(get(ms, 'DaemonSet', 'gantry-agent').spec.template.spec.initContainers[0].resources).toEqual(
      get(defaults, 'DaemonSet', 'gantry-agent').spec.template.spec.initContainers[0].resources,
    );
  });

  it('switches: admission policy, CRDs and their keep annotation', async () => {
    const noPolicy = await render(home, { 'admissionPolicy.enabled': false });
    expect(noPolicy.filter((m) => m.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    expect(noPolicy).toHaveLength(defaults.length - 2);
    const noCrds = await render(home, { 'crds.enabled': false });
    expect(noCrds.filter((m) => m.kind === 'CustomResourceDefinition')).toEqual([]);
    const notKept = await render(home, { 'crds.keep': false });
    const annotations = (m: Manifest) => (m.metadata.annotations ?? {}) as Record<string, string>;
    for (const m of notKept) expect(annotations(m)[HELM_ANNOTATIONS[0]], keyOf(m)).toBeUndefined();
  });

  // each optional component's value renders what deploy/base + that kustomize component does
  it.each([
    ['hostKeeper.hostCgroup.enabled', 'host-cgroup'],
    ['dashboard.enabled', 'dashboard'],
    ['hpaMetrics.enabled', 'hpa-metrics'],
  ])('%s: the objects of deploy/base with deploy/components/%s', async (value, component) => {
    const got = byKey(await render(home, { [value]: true }));
    const want = byKey([...kustomizeWithComponent(base, join(packageRoot(), 'deploy', 'components', component)), ...trustPolicy(base)]);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    expect(got.size).toBeGreaterThanOrEqual(defaults.length);
    for (const [k, m] of got) expect(withoutHelmMetadata(m), k).toEqual(want.get(k));
  });

  it('the helm test hook: off by default, on it calls the named Provider with the caller creds Secret', async () => {
    expect(defaults.filter((m) => m.kind === 'Pod')).toEqual([]);
    const ms = await render(home, {
      'tests.call': {
        enabled: true,
        provider: 'kv',
        namespace: 'team-a',
        operation: 'Get',
        data: 'a key',
        credsSecret: 'caller',
        credsKey: 'admin.creds',
      },
    });
    const pod = get(ms, 'Pod', 'gantry-test-call');
    expect(pod.metadata.annotations['helm.sh/hook']).toBe('test');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.containers[0].args).toEqual([
      'kv',
      'Get',
      '--namespace=team-a',
      '--data=a key',
      `--nats=${natsUrls(3)}`,
      '--nats-ca=/etc/gantry/nats-ca/ca.crt',
      '--creds=/etc/gantry/caller/admin.creds',
      '--timeout=15000',
      '--retries=5',
    ]);
    expect(pod.spec.volumes).toContainEqual({ name: 'caller', secret: { secretName: 'caller' } });
    // on without creds: refused with what is missing, not a hook that can only fail
    const r = await helm(['template', 'gantry', CHART, ...setArgs({ 'tests.call.enabled': true })], home);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/tests\.call\.enabled needs tests\.call\.credsSecret: a Secret in gantry-system/);
  });

  it('every rendered object validates against the Kubernetes schemas, knobs on', async () => {
    const ms = await render(home, {
      'nats.replicas': 5,
      'hostKeeper.hostCgroup.enabled': true,
      'dashboard.enabled': true,
      'hpaMetrics.enabled': true,
      'tests.call.enabled': true,
      'tests.call.credsSecret': 'caller',
      'trust.trustedIssuers': ['A'.repeat(56)],
    });
    for (const m of [...defaults, ...ms]) validateManifest(m, 'helm template');
  });
});

describe.skipIf(skip)(`values.schema.json (${skip ?? 'refusals'})`, () => {
  beforeAll(() => {
    home ||= helmHome();
  });

  // each bad value fails `helm template` (and so install and upgrade) with the field's path
  it.each([
    ['nats.replicas', { 'nats.replicas': 'five' }, /at '\/nats\/replicas': got string, want integer/],
    ['nats.replicas', { 'nats.replicas': 0 }, /at '\/nats\/replicas': minimum: got 0, want 1/],
    ['controller.replicas', { 'controller.replicas': 1.5 }, /at '\/controller\/replicas': got number, want integer/],
    ['a misspelt key', { 'controler.replicas': 3 }, /additional properties 'controler' not allowed/],
    ['a misspelt nested key', { 'agent.nodeSelecter': { a: 'b' } }, /at '\/agent': additional properties 'nodeSelecter' not allowed/],
    ['trust.trustedIssuers', { 'trust.trustedIssuers': ['UNOTANACCOUNT'] }, /at '\/trust\/trustedIssuers\/0': '.*' does not match pattern/],
    ['trust.plainHttpRegistries', { 'trust.plainHttpRegistries': ['http://r:5000'] }, /at '\/trust\/plainHttpRegistries\/0'/],
    ['trust.logKeys', { 'trust.logKeys': ['a,b'] }, /at '\/trust\/logKeys\/0'/],
    ['trust.requireLog', { 'trust.requireLog': 'yes' }, /at '\/trust\/requireLog': got string, want boolean/],
    ['image.pullPolicy', { 'image.pullPolicy': 'Sometimes' }, /at '\/image\/pullPolicy': value must be one of/],
    ['image.tag', { 'image.tag': 'v1 latest' }, /at '\/image\/tag'/],
    ['hostKeeper.orphanGrace', { 'hostKeeper.orphanGrace': '2 minutes' }, /at '\/hostKeeper\/orphanGrace'/],
    ['tests.call.credsSecret', { 'tests.call.credsSecret': 'Not_A_Name' }, /at '\/tests\/call\/credsSecret'/],
    ['dashboard.logLevel', { 'dashboard.logLevel': 'verbose' }, /at '\/dashboard\/logLevel': value must be one of/],
    ['hpaMetrics.caBundle', { 'hpaMetrics.caBundle': '-----BEGIN CERTIFICATE-----' }, /at '\/hpaMetrics\/caBundle'/],
  ])('%s: %j refused', async (_field, values, message) => {
    const r = await helm(['template', 'gantry', CHART, ...setArgs(values)], home);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/values don't meet the specifications of the schema/);
    expect(r.err).toMatch(message);
  });
});

describe.skipIf(skip)(`the cluster's version (${skip ?? 'kubeVersion'})`, () => {
  it('a Kubernetes older than 1.30 (no ValidatingAdmissionPolicy v1, no node-bound tokens) is refused by name', async () => {
    home ||= helmHome();
    const r = await helm(['template', 'gantry', CHART, '--kube-version', '1.29.4'], home);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/chart requires kubeVersion: >=1\.30\.0-0 which is incompatible with Kubernetes v1\.29\.4/);
    expect((await helm(['template', 'gantry', CHART, '--kube-version', '1.30.0'], home)).code).toBe(0);
  });
});

describe.skipIf(skip)(`values cannot inject objects or fields (${skip ?? 'schema skipped on purpose'})`, () => {
  beforeAll(() => {
    home ||= helmHome();
  });

  // the schema refuses these; with it skipped (helm's --skip-schema-validation) the templates must
  // still keep each value one string in its own field: no new document, no new key
  it('a value carrying newlines, quotes and a YAML document stays one string in its own field', async () => {
    const evil = (s: string) => `${s}"\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: injected}\n  privileged: true`;
    const values = {
      'controller.logLevel': evil('info'),
      'hostKeeper.orphanGrace': evil('1s'),
      'image.pullPolicy': evil('Always'),
      'nats.storage': evil('1Gi'),
      'nats.storageClassName': evil('fast'),
      'nats.image.tag': evil('2.10'),
      'tests.call': { enabled: true, credsSecret: evil('caller'), data: evil('d'), operation: evil('Echo') },
    };
    const r = await helm(['template', 'gantry', CHART, '--skip-schema-validation', ...setArgs(values)], home);
    expect(r.code, r.err).toBe(0);
    const ms = parseStream(r.out, 'helm template');
    expect(ms.filter((m) => m.kind === 'Secret')).toEqual([]);
    expect(ms).toHaveLength(byKey(await render(home)).size + 1); // + the test Pod
    const env = container(ms, 'Deployment', 'gantry-controller', 'controller').env;
    expect(env.find((e: { name: string }) => e.name === 'GANTRY_LOG_LEVEL').value).toBe(evil('info'));
    const keeper = container(ms, 'DaemonSet', 'gantry-host-keeper', 'keeper');
    expect(keeper.args).toContain(`--orphan-grace=${evil('1s')}`);
    expect(keeper.imagePullPolicy).toBe(evil('Always'));
    expect(keeper.securityContext.privileged).toBe(false);
    const claim = get(ms, 'StatefulSet', 'gantry-nats').spec.volumeClaimTemplates[0].spec;
    expect(claim.storageClassName).toBe(evil('fast'));
    expect(claim.resources.requests.storage).toBe(evil('1Gi'));
    const pod = get(ms, 'Pod', 'gantry-test-call');
    expect(pod.spec.containers[0].args.slice(1, 4)).toEqual([evil('Echo'), '--namespace=default', `--data=${evil('d')}`]);
    expect(pod.spec.volumes[0].secret.secretName).toBe(evil('caller'));
  });
});
