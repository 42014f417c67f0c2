/**
 * deploy/ on the real kube-apiserver, with the release's own kubectl: `kubectl apply -k
 * deploy/base --dry-run=server` accepts every object and persists nothing, then the real apply
 * succeeds and the CRDs become Established; the kind and cluster overlays render and dry-run too.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { controlPlaneAvailable, realKubectl, startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const exec = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');

describe.skipIf(!controlPlaneAvailable())('deploy/ on the real API server', () => {
  let api: TestApiServer;
  const kubectl = async (...args: string[]) => {
    try {
      const r = await exec(realKubectl(), ['--kubeconfig', api.kubeconfigPath, ...args], { timeout: 60_000, maxBuffer: 16 << 20 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  };
  beforeAll(async () => {
    api = await startTestApiServer({ ground: 'real', noDeployRbac: true });
  });
  afterAll(async () => {
    await api?.stop();
  });

  it("kind overlay renders: the base plus its registry, every object in Gantry's namespaces or cluster-scoped", async () => {
    const r = await kubectl('kustomize', join(repo, 'deploy', 'overlays', 'kind'));
    expect(r.code, r.err).toBe(0);
    const objs = parseAllDocuments(r.out)
      .map((d) => d.toJSON())
      .filter(Boolean);
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of [
      'Namespace',
      'CustomResourceDefinition',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'DaemonSet',
    ])
      expect(kinds, k).toContain(k);
    // gantry-membrane holds only what the controller may read (the membrane keys), gantry-nodes
    // only what the agents may read (sealed credentials): nothing else goes there
    const where: Record<string, string[]> = { 'gantry-membrane': ['Role', 'RoleBinding'], 'gantry-nodes': ['Role', 'RoleBinding'] };
    for (const o of objs) {
      if (!o.metadata.namespace || o.metadata.namespace === 'gantry-system') continue;
      expect(where[o.metadata.namespace], `${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`).toContain(o.kind);
    }
  });

  it('server-side dry-run of deploy/base and the kind and cluster overlays accepts every object and persists nothing', async () => {
    // namespaced objects are checked against an existing namespace, as the dry-run of a
    // Namespace in the same apply does not create it
    for (const ns of ['gantry-system', 'gantry-membrane', 'gantry-nodes']) expect((await kubectl('create', 'namespace', ns)).code).toBe(0);
    for (const rel of ['deploy/base', 'deploy/overlays/kind', 'deploy/overlays/cluster']) {
      const r = await kubectl('apply', '--dry-run=server', '-k', join(repo, rel));
      expect(r.code, `${rel}: ${r.err}`).toBe(0);
      expect(r.out).toMatch(
        /customresourcedefinition\.apiextensions\.k8s\.io\/providers\.gantry\.dev (created|configured) \(server dry run\)/,
      );
    }
    const crds = await kubectl('get', 'crd', '-o', 'name');
    expect(crds.out).not.toContain('gantry.dev');
    const sa = await kubectl('get', 'serviceaccounts', '-n', 'gantry-system', '-o', 'name');
    expect(sa.out).not.toContain('gantry-controller');
  });

  it('kubectl apply -k deploy/base succeeds; the CRDs are Established and served; a second apply creates nothing', async () => {
    const r = await kubectl('apply', '-k', join(repo, 'deploy', 'base'));
    expect(r.code, r.err).toBe(0);
    const w = await kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/providers.gantry.dev',
      'crd/providerinstances.gantry.dev',
    );
    expect(w.code, w.err).toBe(0);
    const get = await kubectl('get', 'providers.gantry.dev', '-A');
    expect(get.code, get.err).toBe(0);
    for (const [kind, name] of [
      ['deployment', 'gantry-controller'],
      ['daemonset', 'gantry-agent'],
      ['serviceaccount', 'gantry-agent'],
      ['rolebinding', 'gantry-agent-leases'],
      ['validatingadmissionpolicy', 'gantry-agent-node-restriction'],
      ['validatingadmissionpolicybinding', 'gantry-agent-node-restriction'],
    ]) {
      expect((await kubectl('get', '-n', 'gantry-system', kind, name)).code, `${kind}/${name}`).toBe(0);
    }
    const again = await kubectl('apply', '-k', join(repo, 'deploy', 'base'));
    expect(again.code, again.err).toBe(0);
    // nothing new; only objects whose server defaults kubectl's client-side apply patches
    // again every time are reported `configured`: the PodDisruptionBudgets, the NATS
    // StatefulSet (volumeClaimTemplates), its route NetworkPolicy and the agent's ValidatingAdmissionPolicy
    expect(again.out).not.toMatch(/ created$/m);
    for (const l of again.out.split('\n').filter((l) => / configured$/.test(l))) {
      expect(l).toMatch(
        /^(poddisruptionbudget\.policy\/gantry-(controller|nats)|networkpolicy\.networking\.k8s\.io\/gantry-nats-routes|statefulset\.apps\/gantry-nats|validatingadmissionpolicy\.admissionregistration\.k8s\.io\/gantry-agent-node-restriction) configured$/,
      );
    }
  });
});
