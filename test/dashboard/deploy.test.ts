/**
 * deploy/components/dashboard rendered on deploy/base by the real kubectl's kustomize: valid
 * manifests, a ServiceAccount whose roles read only what the dashboard shows (no Secrets, no
 * write verb, nothing cluster-wide but get/list/watch), and a container that runs the real
 * command's flags.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gantryProgram } from '../../cli/program.js';
import { packageRoot } from '../../runtime/paths.js';
import { findBinary } from '../support/binaries.js';
import { type Manifest, parseManifests, validateManifest } from '../deploy/schema.js';

const deployDir = join(packageRoot(), 'deploy');
const dir = mkdtempSync(join(tmpdir(), 'gantry-dashboard-kustomize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function render(): Manifest[] {
  const kubectl = findBinary('kubectl');
  if (!kubectl) throw new Error('kubectl is required to render deploy/ with kustomize');
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `resources: [${relative(dir, join(deployDir, 'base'))}]\ncomponents: [${relative(dir, join(deployDir, 'components', 'dashboard'))}]\n`,
  );
  return parseManifests(execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' }), dir);
}

const ms = render();
const find = (kind: string, name: string) => {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`${kind} ${name} not found`);
  return m as any;
};
const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection', 'escalate', 'bind', 'impersonate', '*'];

describe('deploy/components/dashboard', () => {
  it('renders on deploy/base into valid manifests', () => {
    for (const m of ms) validateManifest(m, 'kustomize build (dashboard)');
    expect(find('Service', 'gantry-dashboard').spec).toMatchObject({ type: 'ClusterIP', ports: [{ port: 7070, targetPort: 'http' }] });
  });

  it("the ServiceAccount's roles read only what the dashboard shows: no Secrets, no write verb, no wildcard", () => {
    const bindings = ms.filter(
      (m: any) =>
        (m.kind === 'ClusterRoleBinding' || m.kind === 'RoleBinding') && m.subjects?.some((s: any) => s.name === 'gantry-dashboard'),
    ) as any[];
    expect(bindings.map((b) => `${b.kind}/${b.roleRef.name}`).sort()).toEqual([
      'ClusterRoleBinding/gantry-dashboard',
      'RoleBinding/gantry-dashboard-agent-metrics',
    ]);
    const rules = bindings.flatMap((b) => find(b.roleRef.kind, b.roleRef.name).rules) as any[];
    for (const r of rules) {
      expect(r.resources).not.toContain('secrets');
      expect(r.resources).not.toContain('*');
      expect(r.apiGroups).not.toContain('*');
      expect(r.verbs.filter((v: string) => WRITE_VERBS.includes(v))).toEqual([]);
    }
    const cluster = find('ClusterRole', 'gantry-dashboard').rules;
    expect(cluster.flatMap((r: any) => r.resources).sort()).toEqual(['capabilitygrants', 'nodes', 'providerinstances', 'providers']);
    // the pods and their proxy only in the agents' namespace
    const ns = find('Role', 'gantry-dashboard-agent-metrics');
    expect(ns.metadata.namespace).toBe('gantry-system');
    expect(ns.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/proxy'], verbs: ['get'] },
    ]);
  });

  it('runs `gantry dashboard` with flags the command has, non-root, read-only root, no capabilities', () => {
    const pod = find('Deployment', 'gantry-dashboard').spec.template.spec;
    expect(pod.serviceAccountName).toBe('gantry-dashboard');
    const c = pod.containers[0];
    expect(c.args[0]).toBe('dashboard');
    const cmd = gantryProgram().commands.find((x) => x.name() === 'dashboard')!;
    const flags = new Set(cmd.options.map((o) => o.long));
    for (const a of c.args.slice(1)) expect(flags.has(a.split('=')[0]), a).toBe(true);
    expect(c.args).toContain('--address=0.0.0.0');
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });
});
