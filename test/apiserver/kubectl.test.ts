/**
 * Real kubectl against the emulator, one block per kubectl binary found (the versioned
 * `kubectl.1.*` beside the file the `kubectl` on PATH links to, and the kubectl built with the
 * real control plane by scripts/control-plane.sh). The newest, one middle and
 * the oldest version run the whole matrix; the others a short smoke. Each version works in its
 * own API group (`v133.test.gantry.dev` …) so the CRD lifecycle starts fresh for each.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findBinary } from '../support/binaries.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { controlPlaneAvailable, controlPlaneBinary, controlPlaneVersions } from '../../sandbox/controlplane/index.js';
import { raw } from './http.js';

interface Kubectl {
  version: string;
  minor: number;
  path: string;
}

function findKubectls(): Kubectl[] {
  const onPath = findBinary('kubectl');
  const found: Kubectl[] = [];
  if (!onPath) return found;
  const real = realpathSync(onPath);
  for (const f of readdirSync(dirname(real))) {
    const m = f.match(/^kubectl\.(1\.(\d+))$/);
    if (m) found.push({ version: m[1], minor: Number(m[2]), path: join(dirname(real), f) });
  }
  if (!found.length) found.push({ version: 'path', minor: 99, path: real });
  // the kubectl built with the real control plane (scripts/control-plane.sh), when it is there
  if (controlPlaneAvailable()) {
    const v = controlPlaneVersions().k8s.split('.');
    const version = `${v[0]}.${v[1]}`;
    if (!found.some((k) => k.version === version)) found.push({ version, minor: Number(v[1]), path: controlPlaneBinary('kubectl') });
  }
  found.sort((a, b) => b.minor - a.minor);
  return found;
}

const kubectls = findKubectls();
const full = new Set<string>();
if (kubectls.length) {
  full.add(kubectls[0].version);
  full.add(kubectls[kubectls.length - 1].version);
  full.add(kubectls[Math.floor(kubectls.length / 2)].version);
}

const fixtures = join(import.meta.dirname, 'fixtures');
let api: TestApiServer;
let work: string;

beforeAll(async () => {
  if (!kubectls.length) return;
  api = await startTestApiServer();
  work = mkdtempSync(join(tmpdir(), 'gantry-kubectl-'));
});
afterAll(async () => {
  await api?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(k: Kubectl, args: string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      k.path,
      args,
      { env: { PATH: process.env.PATH ?? '', HOME: join(work, k.version), KUBECONFIG: api.kubeconfigPath }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Run kubectl in the background; resolves with its output when it exits (or is killed). */
function background(k: Kubectl, args: string[], killAfterMs: number): { done: Promise<Run>; output: () => string; kill: () => void } {
  const child = spawn(k.path, args, { env: { PATH: process.env.PATH ?? '', HOME: join(work, k.version), KUBECONFIG: api.kubeconfigPath } });
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), killAfterMs);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  return { done, output: () => stdout, kill: () => child.kill('SIGTERM') };
}

/**
 * Runs `kubectl wait …` with -v=6 and resolves once kubectl's log shows its watch answered
 * (the request line is logged when the response headers arrive), so a change made after
 * this is seen through the watch — no sleep that a loaded machine can outrun.
 */
async function waitingKubectl(k: Kubectl, args: string[]): Promise<{ done: Promise<Run> }> {
  const child = spawn(k.path, ['-v=6', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: join(work, k.version), KUBECONFIG: api.kubeconfigPath },
  });
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  // `GET https://…&watch=true 200 OK` (≤1.32) or `"Response" verb="GET" url="…watch=true…" status="200 OK"` (1.33)
  await until(() => /watch=true[^\n]* (status=")?200 OK/.test(stderr), 15_000, `kubectl ${k.version} ${args[0]}'s watch`);
  return { done };
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what} not seen in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fixtures rewritten into this version's API group. */
function fixture(k: Kubectl, name: string, edit?: (doc: any) => void): string {
  const group = `v${k.version.replace('.', '')}.test.gantry.dev`;
  const doc = parse(readFileSync(join(fixtures, name), 'utf8').replaceAll('test.gantry.dev', group));
  edit?.(doc);
  const file = join(work, k.version, name);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

if (kubectls.length === 0) {
  describe('kubectl', () => {
    it.skip('no kubectl binary found on PATH; the kubectl matrix is skipped', () => undefined);
  });
}

for (const k of kubectls) {
  const g = `v${k.version.replace('.', '')}.test.gantry.dev`;
  const res = `widgets.${g}`;
  // Extra apply flags per version: none are needed (kubectl ≤1.28 finds an empty /openapi/v2 and skips client-side validation).
  const validate: string[] = [];
  const ok = (r: Run) => {
    expect(r.code, `kubectl ${k.version}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  describe(`kubectl ${k.version}${full.has(k.version) ? '' : ' (smoke)'}`, () => {
    beforeAll(() => {
      rmSync(join(work, k.version), { recursive: true, force: true });
      mkdirp(join(work, k.version));
    });

    it('applies a CRD and a custom resource (create, update, no-op) and gets them as a table', async () => {
      expect(ok(await run(k, ['apply', ...validate, '-f', fixture(k, 'widget-crd.yaml')]))).toBe(
        `customresourcedefinition.apiextensions.k8s.io/${res} created\n`,
      );
      expect(ok(await run(k, ['apply', ...validate, '-f', fixture(k, 'widget-crd.yaml')]))).toBe(
        `customresourcedefinition.apiextensions.k8s.io/${res} unchanged\n`,
      );
      expect(ok(await run(k, ['wait', '--for=condition=Established', `crd/${res}`, '--timeout=10s']))).toContain('condition met');
      expect(ok(await run(k, ['apply', ...validate, '-f', fixture(k, 'widget-w1.yaml')]))).toBe(`widget.${g}/w1 created\n`);
      expect(ok(await run(k, ['apply', ...validate, '-f', fixture(k, 'widget-w1-v2.yaml')]))).toBe(`widget.${g}/w1 configured\n`);
      expect(ok(await run(k, ['apply', ...validate, '-f', fixture(k, 'widget-w1-v2.yaml')]))).toBe(`widget.${g}/w1 unchanged\n`);
      const table = ok(await run(k, ['get', res]));
      expect(table).toMatch(/^NAME\s+SIZE\s+REPLICAS\s+PHASE\s+AGE\n/);
      expect(table).toMatch(/\nw1\s+medium\s+2\s+\d+s\n$/);
    });

    if (!full.has(k.version)) return;

    it('creates built-ins imperatively (protobuf bodies from kubectl ≥1.32) and deletes a namespace with its contents', async () => {
      const ns = `imp-${k.minor}`;
      expect(ok(await run(k, ['create', 'namespace', ns]))).toBe(`namespace/${ns} created\n`);
      expect(ok(await run(k, ['-n', ns, 'create', 'configmap', 'c1', '--from-literal=a=b']))).toBe('configmap/c1 created\n');
      expect(ok(await run(k, ['-n', ns, 'create', 'secret', 'generic', 's1', '--from-literal=pw=hunter2']))).toBe('secret/s1 created\n');
      expect(ok(await run(k, ['-n', ns, 'get', 'cm', 'c1', '-o', 'jsonpath={.data.a}']))).toBe('b');
      expect(ok(await run(k, ['-n', ns, 'get', 'secret', 's1', '-o', 'jsonpath={.data.pw}']))).toBe(
        Buffer.from('hunter2').toString('base64'),
      );
      expect(ok(await run(k, ['-n', ns, 'get', 'configmaps']))).toMatch(/^NAME\s+DATA\s+AGE\nc1\s+1\s+\d+s\n$/);
      expect(ok(await run(k, ['delete', 'namespace', ns]))).toBe(`namespace "${ns}" deleted\n`);
      const gone = await run(k, ['get', 'namespace', ns]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain(`namespaces "${ns}" not found`);
    });

    it('refuses names the real server refuses, with its message, and accepts the edge cases it accepts', async () => {
      const label =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
      const subdomain =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
      const refused = async (args: string[], stderr: string) => {
        const r = await run(k, args);
        expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(1);
        expect(r.stderr).toContain(stderr);
      };
      await refused(
        ['create', 'namespace', 'Bad.NS'],
        `The Namespace "Bad.NS" is invalid: metadata.name: Invalid value: "Bad.NS": ${label}`,
      );
      await refused(
        ['-n', 'default', 'create', 'configmap', 'UPPER'],
        `error: failed to create configmap: ConfigMap "UPPER" is invalid: metadata.name: Invalid value: "UPPER": ${subdomain}`,
      );
      await refused(
        ['-n', 'default', 'create', 'configmap', 'has space'],
        `error: failed to create configmap: ConfigMap "has space" is invalid: metadata.name: Invalid value: "has space": ${subdomain}`,
      );
      const n300 = 'a'.repeat(300);
      await refused(
        ['-n', 'default', 'create', 'configmap', n300],
        `error: failed to create configmap: ConfigMap "${n300}" is invalid: metadata.name: Invalid value: "${n300}": must be no more than 253 characters`,
      );
      await refused(['-n', 'Bad.NS', 'create', 'configmap', 'x'], 'error: failed to create configmap: namespaces "Bad.NS" not found');

      const ns = `${'n'.repeat(59)}-${k.minor}`; // 62–63 characters: a label at its length limit
      expect(ok(await run(k, ['create', 'namespace', ns]))).toBe(`namespace/${ns} created\n`);
      const n253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
      for (const name of [n253, 'a.b-c'])
        expect(ok(await run(k, ['-n', ns, 'create', 'configmap', name]))).toBe(`configmap/${name} created\n`);
      expect(ok(await run(k, ['-n', ns, 'get', 'configmap', n253, '-o', 'jsonpath={.metadata.name}']))).toBe(n253);
      expect(ok(await run(k, ['delete', 'namespace', ns, '--wait=false']))).toBe(`namespace "${ns}" deleted\n`);
    });

    it('applies a built-in DaemonSet and updates it with a strategic merge patch', async () => {
      const ds = (a: string) =>
        fixture(k, 'ds.yaml', (d) => {
          d.metadata.name = `agent-${k.minor}`;
          d.spec.template.spec.containers[0].env[0].value = a;
        });
      expect(ok(await run(k, ['apply', ...validate, '-f', ds('1')]))).toBe(`daemonset.apps/agent-${k.minor} created\n`);
      expect(ok(await run(k, ['apply', ...validate, '-f', ds('2')]))).toBe(`daemonset.apps/agent-${k.minor} configured\n`);
      expect(ok(await run(k, ['apply', ...validate, '-f', ds('2')]))).toBe(`daemonset.apps/agent-${k.minor} unchanged\n`);
      const o = parse(ok(await run(k, ['-n', 'kube-system', 'get', 'ds', `agent-${k.minor}`, '-o', 'yaml'])));
      expect(o.spec.template.spec.containers.map((c: { name: string }) => c.name)).toEqual(['agent', 'sidecar']);
      expect(o.spec.template.spec.containers[0].env).toEqual([
        { name: 'A', value: '2' },
        { name: 'B', value: '1' },
      ]);
      expect(o.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
      expect(o.metadata.generation).toBe(2);
      expect(ok(await run(k, ['-n', 'kube-system', 'get', 'ds', `agent-${k.minor}`]))).toMatch(
        /^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE\n/,
      );
    });

    it('cordons, taints and untaints a node', async () => {
      const node = `node-${k.minor}`;
      const created = await raw(api, 'POST', '/api/v1/nodes', {
        metadata: { name: node, labels: { 'kubernetes.io/arch': 'amd64', 'node-role.kubernetes.io/worker': '' } },
        status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.30.0' } },
      });
      expect(created.status).toBe(201);
      expect(ok(await run(k, ['get', 'node', node]))).toMatch(
        new RegExp(`^NAME\\s+STATUS\\s+ROLES\\s+AGE\\s+VERSION\\n${node}\\s+Ready\\s+worker\\s+\\d+s\\s+v1.30.0\\n$`),
      );
      expect(ok(await run(k, ['cordon', node]))).toBe(`node/${node} cordoned\n`);
      expect(ok(await run(k, ['get', 'node', node]))).toContain('Ready,SchedulingDisabled');
      expect(ok(await run(k, ['taint', 'nodes', node, 'gpu=yes:NoSchedule', 'spot=true:NoExecute']))).toBe(`node/${node} tainted\n`);
      expect(ok(await run(k, ['taint', 'nodes', node, 'gpu-']))).toBe(`node/${node} untainted\n`);
      expect(ok(await run(k, ['get', 'node', node, '-o', 'jsonpath={.spec.taints[*].key}']))).toBe('spot');
      expect(ok(await run(k, ['uncordon', node]))).toBe(`node/${node} uncordoned\n`);
      expect(ok(await run(k, ['get', 'node', node, '-o', 'jsonpath={.spec.unschedulable}']))).toBe('');
    });

    it('get -o yaml shows defaults and generation', async () => {
      const o = parse(ok(await run(k, ['get', res, 'w1', '-o', 'yaml'])));
      expect(o.spec).toEqual({ size: 'medium', replicas: 2, color: 'blue' });
      expect(o.metadata.generation).toBe(2);
      expect(o.metadata.labels).toEqual({ app: 'demo', tier: 'gold' });
    });

    it('apply --server-side conflicts with another manager, and --force-conflicts takes over', async () => {
      const v3 = fixture(k, 'widget-w1.yaml', (d) => {
        d.spec.size = 'large';
        d.metadata.labels = { app: 'demo' };
      });
      const c = await run(k, ['apply', '--server-side', ...validate, '--field-manager=other', '-f', v3]);
      expect(c.code).toBe(1);
      // worded as kube-apiserver does: "conflicts with M:" then "- path" lines when several
      expect(c.stderr).toMatch(/Apply failed with \d+ conflicts?: conflicts? with "kubectl-client-side-apply"/);
      expect(c.stderr).toContain('.spec.size');
      expect(ok(await run(k, ['apply', '--server-side', ...validate, '--field-manager=other', '--force-conflicts', '-f', v3]))).toBe(
        `widget.${g}/w1 serverside-applied\n`,
      );
      const o = parse(ok(await run(k, ['get', res, 'w1', '-o', 'yaml', '--show-managed-fields'])));
      expect(o.spec.size).toBe('large');
      expect(o.metadata.managedFields.map((m: { manager: string; operation: string }) => `${m.manager}/${m.operation}`)).toContain(
        'other/Apply',
      );
    });

    it('scales in both forms and refuses a wrong --current-replicas', async () => {
      expect(ok(await run(k, ['scale', `${res}/w1`, '--replicas=3']))).toBe(`widget.${g}/w1 scaled\n`);
      expect(ok(await run(k, ['scale', `${res}/w1`, '--current-replicas=3', '--replicas=4']))).toBe(`widget.${g}/w1 scaled\n`);
      const bad = await run(k, ['scale', `${res}/w1`, '--current-replicas=9', '--replicas=5']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/Expected replicas to be 9, was 4/);
      expect(ok(await run(k, ['get', res, 'w1', '-o', 'jsonpath={.spec.replicas}']))).toBe('4');
    });

    it('patches with merge and json, gets 415 for strategic, labels', async () => {
      expect(ok(await run(k, ['patch', res, 'w1', '--type=merge', '-p', '{"spec":{"x":1}}']))).toBe(`widget.${g}/w1 patched\n`);
      expect(ok(await run(k, ['patch', res, 'w1', '--type=json', '-p', '[{"op":"replace","path":"/spec/x","value":5}]']))).toBe(
        `widget.${g}/w1 patched\n`,
      );
      const smp = await run(k, ['patch', res, 'w1', '-p', '{"spec":{"x":2}}']);
      expect(smp.code).toBe(1);
      expect(smp.stderr).toContain('application/strategic-merge-patch+json is not supported');
      expect(ok(await run(k, ['label', res, 'w1', 'env=dev']))).toBe(`widget.${g}/w1 labeled\n`);
      expect(ok(await run(k, ['get', res, 'w1', '-o', 'jsonpath={.spec.x} {.metadata.labels.env}']))).toBe('5 dev');
    });

    it('describes with events', async () => {
      const w = (await raw(api, 'GET', `/apis/${g}/v1/namespaces/default/widgets/w1`)).json;
      const ev = await raw(api, 'POST', '/api/v1/namespaces/default/events', {
        metadata: { name: `w1.${k.minor}` },
        involvedObject: { apiVersion: `${g}/v1`, kind: 'Widget', name: 'w1', namespace: 'default', uid: w.metadata.uid },
        reason: 'Polished',
        message: 'widget polished by the test',
        type: 'Normal',
        source: { component: 'gantry-test' },
        firstTimestamp: new Date().toISOString(),
        lastTimestamp: new Date().toISOString(),
        count: 1,
      });
      expect(ev.status).toBe(201);
      const d = ok(await run(k, ['describe', res, 'w1']));
      expect(d).toMatch(/^Name:\s+w1$/m);
      expect(d).toMatch(/Size:\s+large/);
      expect(d).toMatch(/Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
      expect(d).toMatch(/Normal\s+Polished\s+\S+\s+gantry-test\s+widget polished by the test/);
    });

    it('get -w streams changes until its timeout', async () => {
      const w = background(k, ['get', res, '-w', '--request-timeout=4s'], 8000);
      await until(() => /\nw1\s/.test(w.output()), 8000, 'initial row');
      expect(ok(await run(k, ['label', res, 'w1', 'watched=yes']))).toBe(`widget.${g}/w1 labeled\n`);
      await until(() => (w.output().match(/^w1\s/gm) ?? []).length >= 2, 8000, 'watch row');
      w.kill();
      const r = await w.done;
      expect(r.stdout).toMatch(/^NAME\s+SIZE\s+REPLICAS\s+PHASE\s+AGE\n/);
      expect((r.stdout.match(/^w1\s+large\s+4\s/gm) ?? []).length).toBeGreaterThanOrEqual(2);
    });

    it('waits for a condition set on /status', async () => {
      const w = await waitingKubectl(k, ['wait', '--for=condition=Ready', `${res}/w1`, '--timeout=15s']);
      const st = await raw(
        api,
        'PATCH',
        `/apis/${g}/v1/namespaces/default/widgets/w1/status`,
        { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
        { 'Content-Type': 'application/merge-patch+json' },
      );
      expect(st.status).toBe(200);
      const r = await w.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`widget.${g}/w1 condition met\n`);
      expect(ok(await run(k, ['get', res]))).toMatch(/\nw1\s+large\s+4\s+Running\s+\d+s\n$/);
    });

    it('deletes through a held finalizer and waits for the delete', async () => {
      expect(ok(await run(k, ['patch', res, 'w1', '--type=merge', '-p', '{"metadata":{"finalizers":["test.gantry.dev/hold"]}}']))).toBe(
        `widget.${g}/w1 patched\n`,
      );
      // kubectl ≥1.34 names the namespace it deleted from
      expect(ok(await run(k, ['delete', res, 'w1', '--wait=false']))).toBe(
        `widget.${g} "w1" deleted${k.minor >= 34 && k.minor !== 99 ? ' from default namespace' : ''}\n`,
      );
      expect(ok(await run(k, ['get', res, 'w1', '-o', 'jsonpath={.metadata.deletionTimestamp}']))).toMatch(/^\d{4}-\d\d-\d\dT/);
      const w = await waitingKubectl(k, ['wait', '--for=delete', `${res}/w1`, '--timeout=15s']);
      expect(ok(await run(k, ['patch', res, 'w1', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']))).toBe(
        `widget.${g}/w1 patched\n`,
      );
      const r = await w.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/w1 condition met/);
      const gone = await run(k, ['get', res, 'w1']);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain(`widgets.${g} "w1" not found`);
    });
  });
}

function mkdirp(p: string): void {
  rmSync(p, { recursive: true, force: true });
  mkdirSync(p, { recursive: true });
}
