/**
 * `kubectl apply --dry-run=server` (kubectl 1.30 when installed, with its default strict
 * validation) of the rendered base and kind overlay against the API emulator: every object is
 * accepted, and a dry run persists nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startApiServer, type ApiServer } from '../../apiserver/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { findBinary } from '../support/binaries.js';
import { parseAllDocuments } from 'yaml';
import { parseManifests } from './schema.js';

/** kubectl 1.30 (matching the schemas deploy/ targets) from beside the kubectl on PATH, else that one. */
function kubectl130(): string {
  const onPath = findBinary('kubectl');
  if (!onPath) throw new Error('kubectl is required');
  const versioned = join(dirname(realpathSync(onPath)), 'kubectl.1.30');
  return existsSync(versioned) ? versioned : onPath;
}

const dir = mkdtempSync(join(tmpdir(), 'gantry-deploy-dryrun-'));
const kubectl = kubectl130();
let api: ApiServer;

// asynchronous: the emulator answers from this process
function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(kubectl, ['--kubeconfig', join(dir, 'kubeconfig'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  api = await startApiServer({ stateDir: join(dir, 'api') });
  writeFileSync(join(dir, 'kubeconfig'), api.kubeconfigYaml);
  // namespaced objects are checked against an existing namespace, as on a real cluster
  for (const name of ['gantry-system', 'gantry-membrane', 'gantry-nodes']) {
    const ns = await run(['create', 'namespace', name]);
    expect(ns.code, ns.err).toBe(0);
  }
});

afterAll(async () => {
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl apply --dry-run=server against the emulator', () => {
  it.each([['deploy/base'], ['deploy/overlays/kind'], ['deploy/overlays/cluster']])(
    '%s: every object accepted, nothing persisted',
    async (rel) => {
      // The emulator serves no admissionregistration API (docs/apiserver.md: it enforces no
      // admission); the agent admission policy is applied on the real API server instead
      // (test/realk8s/deploy.test.ts, node-bound-agent.test.ts). Nor networking.k8s.io: the NATS
      // route NetworkPolicy is checked against its schema offline (manifests.test.ts).
      const notServed = new Set(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'NetworkPolicy']);
      const all = parseAllDocuments(execFileSync(kubectl, ['kustomize', join(packageRoot(), rel)], { encoding: 'utf8' }));
      const kept = all.filter((d) => !notServed.has(d.toJSON()?.kind));
      expect(all.length - kept.length).toBe(3);
      const rendered = kept.map((d) => d.toString()).join('---\n');
      const objects = parseManifests(rendered, rel);
      const file = join(dir, rel.replace(/\//g, '_') + '.yaml');
      writeFileSync(file, rendered);
      const r = await run(['apply', '--dry-run=server', '-f', file]);
      expect(r.code, r.err).toBe(0);
      const accepted = r.out
        .trim()
        .split('\n')
        .filter((l) => /\((server dry run)\)$/.test(l));
      expect(accepted).toHaveLength(objects.length);
      const after = await run(['get', 'deployments,daemonsets,statefulsets,serviceaccounts', '-n', 'gantry-system', '-o', 'name']);
      expect(after.out).not.toMatch(/gantry-(controller|agent|nats)/);
    },
  );

  it('the dry run really validates: a bad object is refused, with the field named', async () => {
    // The emulator checks custom resources against their CRD schema (built-in kinds are
    // checked offline by manifests.test.ts), so the probe is an invalid Provider.
    const crds = await run(['apply', '-f', join(packageRoot(), 'deploy', 'base', 'crds')]);
    expect(crds.code, crds.err).toBe(0);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: broken\n  namespace: gantry-system\nspec:\n  archive: {ref: 127.0.0.1:5000/x}\n  replicas: "two"\n',
    );
    const r = await run(['apply', '--dry-run=server', '-f', bad]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/replicas/);
  });
});
