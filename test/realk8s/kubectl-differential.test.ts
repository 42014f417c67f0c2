/**
 * Differential conformance: one kubectl (the release built with the real control plane) runs
 * the same sequence against the API emulator and against the real kube-apiserver + etcd, and
 * the normalized results (exit code, stdout, stderr) must be equal step by step. Normalizing
 * removes only what differs between any two servers: uids, resourceVersions, timestamps,
 * managedFields times, ages and ports. Where the emulator differs on purpose the step says so
 * and docs/apiserver.md lists it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { controlPlaneAvailable, realKubectl, startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const f = (name: string) => join(fixtures, name);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}
interface Step {
  name: string;
  args: string[];
  /** How stdout is compared: parsed JSON/YAML objects, a table, or text (default). */
  out?: 'json' | 'yaml' | 'table' | 'text';
  /**
   * A known difference (docs/apiserver.md lists it): instead of equality, `check` asserts what
   * each server does, so the real server's behaviour stays pinned and a change on either side shows.
   */
  tolerate?: { why: string; check: (emulated: Result, real: Result) => void };
}

const steps: Step[] = [
  { name: 'create namespace', args: ['create', 'namespace', 'diff'] },
  { name: 'apply CRD', args: ['apply', '-f', f('crd.yaml')] },
  { name: 'wait CRD Established', args: ['wait', '--for=condition=Established', '--timeout=30s', 'crd/widgets.diff.gantry.dev'] },
  { name: 'apply ConfigMap', args: ['apply', '-f', f('configmap.yaml')] },
  { name: 'apply ConfigMap again (unchanged)', args: ['apply', '-f', f('configmap.yaml')] },
  { name: 'apply Widget', args: ['apply', '-f', f('widget.yaml')] },
  { name: 'get widgets (printer columns)', args: ['get', 'widgets', '-n', 'diff'], out: 'table' },
  { name: 'get wd by short name, wide', args: ['get', 'wd', '-n', 'diff', '-o', 'wide'], out: 'table' },
  { name: 'get category', args: ['get', 'difftest', '-n', 'diff'], out: 'table' },
  { name: 'get widget -o json (defaults applied)', args: ['get', 'widget', 'w1', '-n', 'diff', '-o', 'json'], out: 'json' },
  { name: 'get configmap -o yaml', args: ['get', 'configmap', 'cm1', '-n', 'diff', '-o', 'yaml'], out: 'yaml' },
  { name: 'get by label selector', args: ['get', 'configmaps,widgets', '-n', 'diff', '-l', 'tier', '-o', 'name'] },
  {
    name: 'merge patch ConfigMap',
    args: ['patch', 'configmap', 'cm1', '-n', 'diff', '--type=merge', '-p', '{"data":{"c":"3","a":null}}', '-o', 'json'],
    out: 'json',
  },
  {
    name: 'json patch ConfigMap',
    args: ['patch', 'configmap', 'cm1', '-n', 'diff', '--type=json', '-p', '[{"op":"replace","path":"/data/b","value":"2"}]', '-o', 'json'],
    out: 'json',
  },
  {
    name: 'strategic patch ConfigMap',
    args: ['patch', 'configmap', 'cm1', '-n', 'diff', '--type=strategic', '-p', '{"metadata":{"labels":{"x":"y"}}}', '-o', 'json'],
    out: 'json',
  },
  {
    name: 'json patch with failing test op',
    args: ['patch', 'configmap', 'cm1', '-n', 'diff', '--type=json', '-p', '[{"op":"test","path":"/data/b","value":"nope"}]'],
  },
  {
    name: 'merge patch Widget',
    args: ['patch', 'widget', 'w1', '-n', 'diff', '--type=merge', '-p', '{"spec":{"size":"large"}}', '-o', 'json'],
    out: 'json',
  },
  {
    name: 'json patch Widget',
    args: ['patch', 'widget', 'w1', '-n', 'diff', '--type=json', '-p', '[{"op":"add","path":"/spec/tags/-","value":"c"}]', '-o', 'json'],
    out: 'json',
  },
  {
    name: 'strategic patch Widget (unsupported for custom resources)',
    args: ['patch', 'widget', 'w1', '-n', 'diff', '--type=strategic', '-p', '{"spec":{"size":"small"}}'],
  },
  {
    name: 'merge patch Widget violating its schema',
    args: ['patch', 'widget', 'w1', '-n', 'diff', '--type=merge', '-p', '{"spec":{"size":"tiny"}}'],
  },
  {
    name: 'patch status subresource',
    args: [
      'patch',
      'widget',
      'w1',
      '-n',
      'diff',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"replicas":1,"selector":"tier=front"}}',
      '-o',
      'json',
    ],
    out: 'json',
  },
  { name: 'scale Widget', args: ['scale', 'widget', 'w1', '-n', 'diff', '--replicas=3'] },
  { name: 'scale with a failing precondition', args: ['scale', 'widget', 'w1', '-n', 'diff', '--replicas=4', '--current-replicas=2'] },
  { name: 'wait for jsonpath', args: ['wait', '--for=jsonpath={.spec.replicas}=3', '--timeout=10s', 'widget/w1', '-n', 'diff'] },
  { name: 'get scale subresource', args: ['get', '--raw', '/apis/diff.gantry.dev/v1/namespaces/diff/widgets/w1/scale'], out: 'json' },
  { name: 'label and annotate', args: ['label', 'widget', 'w1', '-n', 'diff', 'color=blue'] },
  { name: 'label conflict without --overwrite', args: ['label', 'widget', 'w1', '-n', 'diff', 'color=red'] },
  {
    name: 'server-side apply Widget',
    args: ['apply', '--server-side', '--field-manager=diff', '-f', f('widget.yaml'), '-o', 'json'],
    out: 'json',
  },
  {
    name: 'add a finalizer',
    args: ['patch', 'widget', 'w1', '-n', 'diff', '--type=merge', '-p', '{"metadata":{"finalizers":["diff.gantry.dev/hold"]}}'],
  },
  { name: 'delete with a finalizer (no wait)', args: ['delete', 'widget', 'w1', '-n', 'diff', '--wait=false'] },
  {
    name: 'terminating object is still there',
    args: ['get', 'widget', 'w1', '-n', 'diff', '-o', 'jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}'],
    out: 'text',
  },
  {
    name: 'a finalizer cannot be added while terminating',
    args: [
      'patch',
      'widget',
      'w1',
      '-n',
      'diff',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":["diff.gantry.dev/hold","diff.gantry.dev/more"]}}',
    ],
  },
  {
    name: 'remove the finalizer',
    args: ['patch', 'widget', 'w1', '-n', 'diff', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]'],
  },
  { name: 'wait for delete', args: ['wait', '--for=delete', '--timeout=10s', 'widget/w1', '-n', 'diff'] },
  { name: 'get deleted object', args: ['get', 'widget', 'w1', '-n', 'diff'] },
  { name: 'delete ConfigMap', args: ['delete', 'configmap', 'cm1', '-n', 'diff'] },
  { name: 'delete missing ConfigMap', args: ['delete', 'configmap', 'cm1', '-n', 'diff'] },
  { name: 'delete missing with --ignore-not-found', args: ['delete', 'configmap', 'cm1', '-n', 'diff', '--ignore-not-found'] },
  { name: 'unknown resource type', args: ['get', 'gizmos', '-n', 'diff'] },
  {
    name: 'bad manifest: unknown field (strict)',
    args: ['apply', '-f', f('bad-unknown-field.yaml')],
    tolerate: {
      why: 'the emulator has no schemas for built-in kinds, so it cannot refuse their unknown fields (custom resources: it does)',
      check: (e, r) => {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('cannot be handled as a ConfigMap: strict decoding error: unknown field "dta"');
        expect(e.code).toBe(0);
      },
    },
  },
  { name: 'bad manifest: unknown field, --validate=false', args: ['apply', '--validate=false', '-f', f('bad-unknown-field-ignored.yaml')] },
  { name: 'bad manifest: no kind', args: ['apply', '-f', f('bad-no-kind.yaml')] },
  {
    name: 'bad manifest: schema violations',
    args: ['apply', '-f', f('bad-schema.yaml')],
    tolerate: {
      why: 'same fields refused with the same reasons; the real server words a minimum as "should be greater than or equal to", lists causes in another order and adds the scale subresource\'s own check of .spec.replicas',
      check: (e, r) => {
        for (const x of [e, r]) {
          expect(x.code).toBe(1);
          expect(x.stderr).toContain('The Widget "w-bad" is invalid:');
          expect(x.stderr).toContain('* spec.size: Unsupported value: "huge": supported values: "small", "large"');
          expect(x.stderr).toMatch(
            /\* spec\.replicas: Invalid value: -1: spec\.replicas in body (should be greater than or equal to|must be >=) 0/,
          );
        }
        expect(r.stderr).toContain('* .spec.replicas: Invalid value: -1: should be a non-negative integer');
      },
    },
  },
  { name: 'bad manifest: invalid YAML', args: ['apply', '-f', f('bad-yaml.yaml')] },
  {
    name: 'bad name: ConfigMap',
    args: ['apply', '-f', f('bad-name-cm.yaml')],
    tolerate: {
      why: 'DNS-1123 name validation is being added to the emulator on another branch: until it lands the emulator may accept the name',
      check: (e, r) => {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('a lowercase RFC 1123 subdomain must consist of');
        if (e.code !== 0) expect(e.stderr).toContain('a lowercase RFC 1123 subdomain must consist of');
      },
    },
  },
  {
    name: 'bad name: custom resource',
    args: ['apply', '-f', f('bad-name-widget.yaml')],
    tolerate: {
      why: 'DNS-1123 name validation is being added to the emulator on another branch: until it lands the emulator may accept the name',
      check: (e, r) => {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('a lowercase RFC 1123 subdomain must consist of');
        if (e.code !== 0) expect(e.stderr).toContain('a lowercase RFC 1123 subdomain must consist of');
      },
    },
  },
  {
    name: 'bad name: namespace',
    args: ['create', 'namespace', 'Bad.Namespace'],
    tolerate: {
      why: 'DNS-1123 name validation is being added to the emulator on another branch: until it lands the emulator may accept the name',
      check: (e, r) => {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('a lowercase RFC 1123 label must consist of');
        if (e.code !== 0) expect(e.stderr).toContain('a lowercase RFC 1123 label must consist of');
      },
    },
  },
  { name: 'delete the CRD', args: ['delete', 'crd', 'widgets.diff.gantry.dev'] },
];

const VOLATILE = new Set(['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'time', 'lastTransitionTime', 'selfLink']);

/** Removes what any two servers may differ in; keeps presence (a deletionTimestamp that is set stays set). */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = VOLATILE.has(k) ? (x === undefined || x === null ? x : '<volatile>') : normalize(x);
    return out;
  }
  return v;
}

function normalizeText(s: string, urls: string[]): string {
  let t = s;
  for (const u of urls) t = t.split(u).join('<server>');
  return t
    .replace(/127\.0\.0\.1:\d+/g, '<server>')
    .replace(/\b\d+(\.\d+)?(ms|s|m|h|d)(\d+(s|m|h))?\b/g, '<age>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, '<ts>')
    .replace(/resourceVersion: "?\d+"?/g, 'resourceVersion: <rv>')
    .replace(/[ \t]+/g, ' ')
    .trim();
}

describe.skipIf(!controlPlaneAvailable())('kubectl against the emulator and the real kube-apiserver', () => {
  let emulated: TestApiServer;
  let real: TestApiServer;
  let home: string;
  const results: { emulated: Result[]; real: Result[] } = { emulated: [], real: [] };

  function kubectl(api: TestApiServer, which: string, args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      execFile(
        realKubectl(),
        args,
        { env: { PATH: process.env.PATH ?? '', HOME: join(home, which), KUBECONFIG: api.kubeconfigPath }, timeout: 40_000 },
        (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
        },
      );
    });
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'gantry-kubectl-diff-'));
    [emulated, real] = await Promise.all([
      startTestApiServer({ ground: 'emulated' }),
      startTestApiServer({ ground: 'real', noDeployRbac: true }),
    ]);
    // one step at a time on both, so each sees the same history
    for (const s of steps) {
      results.emulated.push(await kubectl(emulated, 'emulated', s.args));
      results.real.push(await kubectl(real, 'real', s.args));
    }
  }, 240_000);
  afterAll(async () => {
    await emulated?.stop();
    await real?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it.each(steps.map((s, i) => [s.name, i] as const))('%s', (_name, i) => {
    const s = steps[i];
    const e = results.emulated[i];
    const r = results.real[i];
    if (s.tolerate) {
      s.tolerate.check(e, r);
      return;
    }
    const view = (x: Result, api: TestApiServer) => {
      const text = (t: string) => normalizeText(t, [api.url]);
      let out: unknown = text(x.stdout);
      if (x.code === 0 && s.out === 'json') out = normalize(JSON.parse(x.stdout));
      if (x.code === 0 && s.out === 'yaml') out = normalize(parseYaml(x.stdout));
      return { code: x.code, stdout: out, stderr: text(x.stderr) };
    };
    expect(view(e, emulated), `emulator vs kube-apiserver for: kubectl ${s.args.join(' ')}`).toEqual(view(r, real));
  });
});
