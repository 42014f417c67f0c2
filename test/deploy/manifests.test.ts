/**
 * deploy/: every manifest validates offline against the Kubernetes API schemas for its kind,
 * the kustomize builds (base and kind overlay, rendered by the real kubectl) do too, the CRDs
 * are the generated ones from crds/, and the security posture the docs promise holds.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { findBinary } from '../support/binaries.js';
import { ManifestInvalid, parseManifests, readManifests, validateManifest, type Manifest } from './schema.js';

const root = packageRoot();
const deployDir = join(root, 'deploy');

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    // the Helm chart's files are templates, not manifests: helm.test.ts validates what they render
    if (e.isDirectory() && p === join(deployDir, 'helm')) continue;
    if (e.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e.name) && e.name !== 'kustomization.yaml') out.push(p);
  }
  return out;
}

function kustomize(dir: string): Manifest[] {
  const kubectl = findBinary('kubectl');
  if (!kubectl) throw new Error('kubectl is required to render deploy/ with kustomize');
  return parseManifests(execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' }), dir);
}

// Strategic-merge patches in an overlay or component are partial objects, not full manifests.
const patchFiles = new Set<string>();
const kustomizations = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? kustomizations(join(dir, e.name)) : e.name === 'kustomization.yaml' ? [join(dir, e.name)] : [],
  );
for (const k of kustomizations(deployDir)) {
  const doc = parse(readFileSync(k, 'utf8')) as { patches?: { path?: string }[] };
  for (const p of doc.patches ?? []) if (p.path) patchFiles.add(join(dirname(k), p.path));
}

const base = kustomize(join(deployDir, 'base'));
const kind = kustomize(join(deployDir, 'overlays', 'kind'));
const cluster = kustomize(join(deployDir, 'overlays', 'cluster'));
const find = (ms: Manifest[], kindName: string, name: string) => {
  const m = ms.find((x) => x.kind === kindName && x.metadata.name === name);
  if (!m) throw new Error(`${kindName} ${name} not found`);
  return m as any;
};

describe('deploy/ manifests against the Kubernetes schemas', () => {
  const files = yamlFiles(deployDir).filter((f) => !patchFiles.has(f));

  it.each(files.map((f) => [f.slice(root.length + 1), f]))('%s validates', (_rel, file) => {
    const ms = readManifests(file);
    expect(ms.length).toBeGreaterThan(0);
    for (const m of ms) validateManifest(m, file);
  });

  it('the kustomize builds validate, object by object', () => {
    for (const m of [...base, ...kind, ...cluster]) validateManifest(m, 'kustomize build');
    expect(base.length).toBeGreaterThanOrEqual(15);
  });

  it('the validator rejects what the API server would, with a stable code', () => {
    const bad = structuredClone(find(base, 'Deployment', 'gantry-controller'));
    bad.spec.replicas = 'two';
    delete bad.spec.template.spec.containers[0].name;
    let err: unknown;
    try {
      validateManifest(bad, 'test');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestInvalid);
    expect((err as ManifestInvalid).code).toBe('MANIFEST_INVALID');
    expect((err as Error).message).toMatch(/replicas must be integer/);
    expect((err as Error).message).toMatch(/required property name/);
    expect(() => validateManifest({ apiVersion: 'v1', kind: 'Gizmo', metadata: { name: 'x' } }, 'test')).toThrow(
      /no schema for kind Gizmo/,
    );
  });
});

describe('CRDs', () => {
  it('deploy/base/crds equals crds/ (run deploy/sync-crds.sh after regenerating)', () => {
    const generated = readdirSync(join(root, 'crds'))
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    const copied = readdirSync(join(deployDir, 'base', 'crds'))
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(generated.length).toBeGreaterThan(0);
    expect(copied).toEqual(generated);
    for (const f of generated) {
      expect(readFileSync(join(deployDir, 'base', 'crds', f), 'utf8'), f).toBe(readFileSync(join(root, 'crds', f), 'utf8'));
    }
  });

  it('every CRD is part of the kustomize build', () => {
    const names = base
      .filter((m) => m.kind === 'CustomResourceDefinition')
      .map((m) => m.metadata.name)
      .sort();
    expect(names).toEqual(['capabilitygrants.gantry.dev', 'providerinstances.gantry.dev', 'providers.gantry.dev']);
  });
});

describe('security posture', () => {
  it('controller: 2 replicas, leader election, probes, requests and limits, non-root, read-only root fs', () => {
    const d = find(base, 'Deployment', 'gantry-controller');
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.serviceAccountName).toBe('gantry-controller');
    // leader election is built into `gantry controller`; it needs its Lease rights (RBAC test)
    expect(c.args.join(' ')).toMatch(/exec node \/app\/bin\/gantry.js "\$@"/);
    expect(c.args.join(' ')).toMatch(/set -- controller /);
    expect(c.readinessProbe?.httpGet).toBeDefined();
    expect(c.livenessProbe?.httpGet).toBeDefined();
    expect(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory).toBeTruthy();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
  });

  it('agent: NODE_NAME from the downward API, hostPath cache, tolerations, no privilege', () => {
    const ds = find(base, 'DaemonSet', 'gantry-agent');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.serviceAccountName).toBe('gantry-agent');
    expect(c.env.find((e: any) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    expect(c.args.join(' ')).toMatch(/set -- agent --node="\$NODE_NAME"/);
    const cache = pod.volumes.find((v: any) => v.name === 'cache');
    expect(cache.hostPath.path).toBe('/var/cache/gantry');
    expect(c.volumeMounts.some((m: any) => m.name === cache.name)).toBe(true);
    // each agent (and the chown before it) sees only its node's directory of the hostPath, even
    // where nodes share a filesystem (docs/security.md, node isolation)
    for (const x of [c, ...(pod.initContainers ?? [])]) {
      expect(x.volumeMounts.find((m: any) => m.name === cache.name).subPathExpr, x.name).toBe('$(NODE_NAME)');
      expect(x.env.find((e: any) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath, x.name).toBe('spec.nodeName');
    }
    expect(pod.tolerations.length).toBeGreaterThan(0);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.capabilities.add ?? []).toEqual([]);
    // the one root step may only chown the cache
    for (const ic of pod.initContainers ?? []) expect(ic.securityContext.capabilities.add).toEqual(['CHOWN']);
  });

  it('host keeper: the parent of the hosts, updated only on delete, no API token, the cache read-only, the socket directory shared with the agent alone', () => {
    const ds = find(base, 'DaemonSet', 'gantry-host-keeper');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    // an agent upgrade (RollingUpdate of gantry-agent) never replaces the pod its hosts live in
    expect(ds.spec.updateStrategy).toEqual({ type: 'OnDelete' });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
    expect(c.command).toEqual(['node', '/app/bin/gantry.js', 'host-keeper']);
    expect(c.args).toContain('--socket=/run/gantry/keeper/keeper.sock');
    expect(c.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(c.volumeMounts.find((m: any) => m.name === 'cache')).toMatchObject({ readOnly: true, subPathExpr: '$(NODE_NAME)' });
    // the same per-node socket directory in both pods, and no other pod of the base mounts it
    const keeperDir = pod.volumes.find((v: any) => v.name === 'keeper').hostPath.path;
    const agent = find(base, 'DaemonSet', 'gantry-agent').spec.template.spec;
    expect(agent.volumes.find((v: any) => v.name === 'keeper').hostPath.path).toBe(keeperDir);
    expect(agent.containers[0].volumeMounts.find((m: any) => m.name === 'keeper')).toMatchObject({
      mountPath: '/run/gantry/keeper',
      subPathExpr: '$(NODE_NAME)',
    });
    const mounting = base.filter((m: any) => m.spec?.template?.spec?.volumes?.some((v: any) => v.hostPath?.path === keeperDir));
    expect(mounting.map((m: any) => m.metadata.name).sort()).toEqual(['gantry-agent', 'gantry-host-keeper']);
    // its one root step makes the socket directory 65532's and 0700, nothing else
    expect(pod.initContainers.map((ic: any) => ic.securityContext.capabilities.add)).toEqual([['CHOWN', 'FOWNER']]);
    expect(pod.initContainers[0].command.join(' ')).toBe(
      '/bin/sh -c chown 65532:65532 /run/gantry/keeper && chmod 0700 /run/gantry/keeper',
    );
  });

  it('the namespace Pod Security level admits the pods it holds (hostPath needs "privileged")', () => {
    const ns = find(base, 'Namespace', 'gantry-system');
    const enforce = ns.metadata.labels['pod-security.kubernetes.io/enforce'];
    const usesHostPath = base.some((m: any) => m.spec?.template?.spec?.volumes?.some((v: any) => v.hostPath));
    expect(usesHostPath).toBe(true);
    expect(enforce).toBe('privileged');
  });

  it('RBAC: separate service accounts, no wildcards, Secrets written only in gantry-nodes, agents cannot place instances', () => {
    const sas = base
      .filter((m) => m.kind === 'ServiceAccount')
      .map((m) => m.metadata.name)
      .sort();
    expect(sas).toEqual(['gantry-agent', 'gantry-controller']);
    const roles = base.filter((m) => m.kind === 'ClusterRole' || m.kind === 'Role') as any[];
    for (const r of roles) {
      for (const rule of r.rules) {
        for (const field of ['apiGroups', 'resources', 'verbs']) expect(rule[field], `${r.metadata.name}.${field}`).not.toContain('*');
        // the controller writes the sealed pull credentials in gantry-nodes only, and in
        // gantry-system only removes what an older release left; everywhere else it reads by name
        const secretVerbs: Record<string, string[]> = {
          'gantry-controller-pull-credentials': ['get', 'list', 'create', 'update', 'patch', 'delete'],
          'gantry-controller-legacy-creds': ['list', 'delete'],
        };
        if (rule.resources.includes('secrets'))
          expect(rule.verbs, r.metadata.name).toEqual((r.kind === 'Role' && secretVerbs[r.metadata.name]) || ['get']);
      }
    }
    const agentRules = find(base, 'ClusterRole', 'gantry-agent').rules as any[];
    // a node reads no Secret outside gantry-nodes and no Provider (issues 21, 28)
    expect(agentRules.flatMap((r) => r.resources)).not.toContain('secrets');
    expect(agentRules.flatMap((r) => r.resources)).not.toContain('providers');
    const agentRole = find(base, 'Role', 'gantry-agent-leases');
    expect(agentRole.metadata.namespace).toBe('gantry-system');
    expect(agentRole.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] },
    ]);
    // every Role bound to the agent that names Secrets is in gantry-nodes, get only
    const agentRoleNames = new Set(
      (base.filter((m: any) => m.kind === 'RoleBinding' && m.subjects.some((s: any) => s.name === 'gantry-agent')) as any[]).map(
        (b) => `${b.metadata.namespace}/${b.roleRef.name}`,
      ),
    );
    const agentSecretRoles = roles.filter(
      (r) =>
        r.kind === 'Role' &&
        agentRoleNames.has(`${r.metadata.namespace}/${r.metadata.name}`) &&
        r.rules.some((x: any) => x.resources.includes('secrets')),
    );
    expect(agentSecretRoles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual([
      'gantry-nodes/gantry-agent-pull-credentials',
    ]);
    expect(agentSecretRoles[0].rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]);
    // the controller signs the agents' host keys on providerinstances/status
    const controllerRules = find(base, 'ClusterRole', 'gantry-controller').rules as any[];
    expect(controllerRules).toContainEqual({ apiGroups: ['gantry.dev'], resources: ['providerinstances/status'], verbs: ['get', 'patch'] });
    const agentInstanceVerbs = agentRules.filter((r) => r.resources.includes('providerinstances')).flatMap((r) => r.verbs);
    expect(agentInstanceVerbs).not.toContain('create');
    expect(agentInstanceVerbs).not.toContain('delete');
    // every binding names the service account its role is for
    for (const b of base.filter((m) => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding') as any[]) {
      expect(b.subjects).toHaveLength(1);
      expect(b.roleRef.name.startsWith(b.subjects[0].name)).toBe(true);
    }
  });

  it('the trust policy: controller and agents may get/list/watch the one ConfigMap gantry-trust in gantry-system, nothing else of it', () => {
    for (const who of ['gantry-controller', 'gantry-agent']) {
      const role = find(base, 'Role', `${who}-trust`);
      expect(role.metadata.namespace).toBe('gantry-system');
      expect(role.rules).toEqual([
        { apiGroups: [''], resources: ['configmaps'], resourceNames: ['gantry-trust'], verbs: ['get', 'list', 'watch'] },
      ]);
      expect(find(base, 'RoleBinding', `${who}-trust`).subjects).toEqual([
        { kind: 'ServiceAccount', name: who, namespace: 'gantry-system' },
      ]);
    }
    // the agent's ClusterRole names no ConfigMap: a node reads no other one
    expect((find(base, 'ClusterRole', 'gantry-agent').rules as any[]).flatMap((r) => r.resources)).not.toContain('configmaps');
  });

  it('the membrane keys live in a namespace of their own, which only the controller may read, by name, and no pod mounts', () => {
    const ns = find(base, 'Namespace', 'gantry-membrane');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const inMembrane = base.filter((m: any) => m.metadata?.namespace === 'gantry-membrane');
    expect(inMembrane.map((m: any) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'Role/gantry-controller-membrane-keys',
      'RoleBinding/gantry-controller-membrane-keys',
    ]);
    const role = find(base, 'Role', 'gantry-controller-membrane-keys');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['gantry-membrane-keys'], verbs: ['get'] }]);
    expect(find(base, 'RoleBinding', 'gantry-controller-membrane-keys').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'gantry-controller', namespace: 'gantry-system' },
    ]);
    // no agent binding anywhere reaches gantry-membrane, and no pod mounts the keys
    const bindings = base.filter((m: any) => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding') as any[];
    for (const b of bindings.filter((b) => b.subjects.some((s: any) => s.name === 'gantry-agent')))
      expect(b.metadata.namespace ?? 'cluster').not.toBe('gantry-membrane');
    const volumes = base.flatMap((m: any) => m.spec?.template?.spec?.volumes ?? []);
    expect(volumes.filter((v: any) => v.secret?.secretName === 'gantry-membrane-keys')).toEqual([]);
  });

  it("the agent admission policy keys on the token's node and matches only gantry-agent's status and Lease writes", () => {
    const policy = find(base, 'ValidatingAdmissionPolicy', 'gantry-agent-node-restriction');
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConditions.map((c: any) => c.expression)).toEqual([
      "request.userInfo.username == 'system:serviceaccount:gantry-system:gantry-agent'",
    ]);
    expect(policy.spec.matchConstraints.resourceRules.flatMap((r: any) => r.resources).sort()).toEqual([
      'leases',
      'providerinstances/status',
    ]);
    expect(policy.spec.variables[0].expression).toContain("'authentication.kubernetes.io/node-name'");
    const binding = find(base, 'ValidatingAdmissionPolicyBinding', 'gantry-agent-node-restriction');
    expect(binding.spec).toEqual({ policyName: 'gantry-agent-node-restriction', validationActions: ['Deny'] });
  });

  it('the kind overlay runs the locally built image and trusts its in-cluster registry over plain HTTP', () => {
    const images = kind.flatMap((m: any) => m.spec?.template?.spec?.containers?.map((c: any) => c.image) ?? []);
    expect(images.filter((i: string) => i.startsWith('gantry:'))).toEqual(['gantry:dev', 'gantry:dev', 'gantry:dev']);
    expect(find(kind, 'ConfigMap', 'gantry-trust').data['plain-http-registries']).toBe('gantry-registry.gantry-system.svc:5000');
    // the base ships no trust policy: gantry install makes it once, and applying a release never resets it
    expect(base.filter((m: any) => m.kind === 'ConfigMap' && m.metadata.name === 'gantry-trust')).toEqual([]);
  });
});

describe('NATS cluster', () => {
  const sts = find(base, 'StatefulSet', 'gantry-nats');
  const conf = find(base, 'ConfigMap', 'gantry-nats').data['nats.conf'] as string;

  it('three servers with stable names behind the headless Service, each routing to all three', () => {
    expect([sts.spec.replicas, sts.spec.serviceName]).toEqual([3, 'gantry-nats-headless']);
    const routes = [...conf.matchAll(/nats-route:\/\/([\w.-]+):6222/g)].map((m) => m[1]);
    expect(routes).toEqual([0, 1, 2].map((i) => `gantry-nats-${i}.gantry-nats-headless.gantry-system.svc`));
    expect(conf).toMatch(/server_name: \$POD_NAME/);
    expect(conf).toMatch(/^max_control_line: 65536$/m); // user JWTs (CONNECT) of large grants
    expect(sts.spec.template.spec.containers[0].env).toContainEqual({
      name: 'POD_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    const headless = find(base, 'Service', 'gantry-nats-headless');
    expect(headless.spec.ports.map((p: any) => p.port)).toContain(6222);
    expect(sts.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([4222, 6222, 8222]);
  });

  it('every server keeps the membrane: operator mode from the membrane ConfigMap, pushed JWTs on its own volume', () => {
    expect(conf).toMatch(/include \.\.\/nats-membrane\/membrane\.conf/);
    expect(sts.spec.volumeClaimTemplates.map((v: any) => v.metadata.name)).toEqual(['jwt']);
  });

  it('clients must speak TLS, routes are mutual TLS, with the gantry-nats-tls Secret; controller and agent verify with the CA ConfigMap', () => {
    const files = ['cert_file: "/etc/nats-tls/tls.crt"', 'key_file: "/etc/nats-tls/tls.key"', 'ca_file: "/etc/nats-tls/ca.crt"'];
    const [top, cluster] = [conf.slice(0, conf.indexOf('cluster {')), conf.slice(conf.indexOf('cluster {'))];
    for (const f of files) expect(top).toContain(f);
    for (const f of files) expect(cluster).toContain(f);
    expect(top).not.toMatch(/verify/); // client certificates are not asked for: the JWT authenticates
    expect(cluster).toMatch(/tls \{[^}]*verify: true[^}]*\}/);
    const pod = sts.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'gantry-nats-tls', defaultMode: 0o440 } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/nats-tls', readOnly: true });
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    for (const [kind, name] of [
      ['Deployment', 'gantry-controller'],
      ['DaemonSet', 'gantry-agent'],
    ]) {
      const spec = find(base, kind, name).spec.template.spec;
      expect(spec.volumes).toContainEqual({ name: 'nats-ca', configMap: { name: 'gantry-nats-ca' } });
      expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'nats-ca', mountPath: '/etc/gantry/nats-ca', readOnly: true });
      // nothing but the CA certificate: the CA key never enters the cluster
      expect(JSON.stringify(spec)).not.toMatch(/ca\.key|gantry-nats-tls/);
    }
  });

  it('routes are open only to the other NATS servers; at most one server is down by a voluntary disruption', () => {
    const np = find(base, 'NetworkPolicy', 'gantry-nats-routes');
    const route = np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 6222));
    expect(route.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gantry-nats' } } }]);
    expect(np.spec.ingress.filter((r: any) => !r.from).flatMap((r: any) => r.ports.map((p: any) => p.port))).toEqual([4222]);
    // the monitoring port names every connection, account and subscription: no rule and no
    // Service opens it to the cluster (the kubelet probes it from the pod's own node)
    expect(np.spec.ingress.flatMap((r: any) => r.ports.map((p: any) => p.port))).not.toContain(8222);
    for (const name of ['gantry-nats', 'gantry-nats-headless'])
      expect(find(base, 'Service', name).spec.ports.map((p: any) => p.port)).not.toContain(8222);
    expect(find(base, 'PodDisruptionBudget', 'gantry-nats').spec.maxUnavailable).toBe(1);
  });
});

describe('container commands', () => {
  // The manifests expand the trust policy lists into CLI flags with a shell; run that same
  // script with a stub `node` that prints its arguments, and check the result the CLI gets.
  const script = (m: any) => m.spec.template.spec.containers[0].args[0] as string;
  const run = (text: string, env: Record<string, string>) =>
    execFileSync('/bin/sh', ['-c', text.replace('exec node /app/bin/gantry.js "$@"', 'printf "%s\\n" "$@"')], {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
  // every client is given the three NATS servers by their stable StatefulSet names
  const natsUrls = [0, 1, 2].map((i) => `tls://gantry-nats-${i}.gantry-nats-headless.gantry-system.svc:4222`).join(',');
  const natsCa = '--nats-ca=/etc/gantry/nats-ca/ca.crt';
  // the trusted issuers are watched at run time (api/trust-watch.ts), not expanded into flags
  const trustCm = '--trust-configmap=gantry-system/gantry-trust';

  it('controller: trust watched from gantry-trust, one --plain-http-registry per list entry, none for an empty list', () => {
    const s = script(find(base, 'Deployment', 'gantry-controller'));
    const args = run(s, {
      POD_NAME: 'ctl-0',
      GANTRY_PLAIN_HTTP_REGISTRIES: 'reg.local:5000',
    });
    const membrane = ['--membrane-keys-secret=gantry-membrane/gantry-membrane-keys', `--membrane-nats=${natsUrls}`, natsCa, trustCm];
    expect(args).toEqual([
      'controller',
      '--namespace=gantry-system',
      '--credentials-namespace=gantry-nodes',
      '--metrics-addr=0.0.0.0:8080',
      '--identity=ctl-0',
      ...membrane,
      '--plain-http-registry=reg.local:5000',
    ]);
    expect(run(s, { POD_NAME: 'x', GANTRY_PLAIN_HTTP_REGISTRIES: '' })).toEqual([
      'controller',
      '--namespace=gantry-system',
      '--credentials-namespace=gantry-nodes',
      '--metrics-addr=0.0.0.0:8080',
      '--identity=x',
      ...membrane,
    ]);
  });

  it('agent: node from NODE_NAME, NATS service, cache dir, trust flags', () => {
    const s = script(find(base, 'DaemonSet', 'gantry-agent'));
    const args = run(s, { NODE_NAME: 'worker-1', GANTRY_PLAIN_HTTP_REGISTRIES: '' });
    expect(args).toEqual([
      'agent',
      '--node=worker-1',
      '--namespace=gantry-system',
      '--credentials-namespace=gantry-nodes',
      `--nats=${natsUrls}`,
      natsCa,
      '--cache-dir=/var/cache/gantry',
      '--membrane',
      '--host-keeper=/run/gantry/keeper/keeper.sock',
      trustCm,
    ]);
  });
});

describe('flags the manifests pass exist in the CLI', () => {
  it.each([
    ['controller', 'Deployment', 'gantry-controller'],
    ['agent', 'DaemonSet', 'gantry-agent'],
    ['host-keeper', 'DaemonSet', 'gantry-host-keeper'],
  ])('gantry %s --help lists every flag %s/%s uses', (cmd, kindName, name) => {
    const help = execFileSync(process.execPath, [gantryBin(), cmd, '--help'], { encoding: 'utf8' });
    const text = (find(base, kindName, name).spec.template.spec.containers[0].args as string[]).join(' ');
    const flags = [...new Set([...text.matchAll(/(--[a-z][a-z-]+)=/g)].map((m) => m[1]))];
    expect(flags.length).toBeGreaterThanOrEqual(3);
    for (const f of flags) expect(help, `${cmd} ${f}`).toContain(f);
  });
});

describe('image, kind cluster and e2e script', () => {
  it('Dockerfile is multi-stage and runs as a non-root user', () => {
    const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(text.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    const users = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(text).toMatch(/ENTRYPOINT \["node", "\/app\/bin\/gantry.js"\]/);
  });

  it('Dockerfile copies every part the build transpiles into dist/ (bench/ aside): a missing one is silently skipped', () => {
    const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const build = readFileSync(join(root, 'scripts', 'build.mjs'), 'utf8');
    const roots = [...build.slice(build.indexOf('const roots = ['), build.indexOf('];')).matchAll(/'([a-z]+)'/g)].map((m) => m[1]);
    expect(roots).toContain('controller');
    const copied = [...text.matchAll(/^COPY (\S+) \1$/gm)].map((m) => m[1]);
    expect(roots.filter((r) => r !== 'bench' && !copied.includes(r))).toEqual([]);
  });

  it('kind-config.yaml: one control plane, two workers', () => {
    const cfg = parse(readFileSync(join(root, 'kind-config.yaml'), 'utf8'));
    expect(cfg.kind).toBe('Cluster');
    expect(cfg.nodes.map((n: any) => n.role).sort()).toEqual(['control-plane', 'worker', 'worker']);
  });

  it('scripts/kind-e2e.sh parses (bash -n) and passes shellcheck when installed', () => {
    const scripts = [join(root, 'scripts', 'kind-e2e.sh'), join(deployDir, 'sync-crds.sh')];
    for (const s of scripts) execFileSync('bash', ['-n', s]);
    const shellcheck = findBinary('shellcheck');
    if (shellcheck) execFileSync(shellcheck, scripts, { encoding: 'utf8' });
  });
});

describe('deploy/components/hpa-metrics (the HPA path)', () => {
  it('renders on deploy/base: the APIService verifies the server, the controller mounts its certificate and serves the port, no auth-delegator', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-hpa-kustomize-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `resources: [${relative(dir, join(deployDir, 'base'))}]\ncomponents: [${relative(dir, join(deployDir, 'components', 'hpa-metrics'))}]\n`,
      );
      const ms = kustomize(dir);
      for (const m of ms) validateManifest(m, 'kustomize build (hpa-metrics)');
      const apiService = find(ms, 'APIService', 'v1beta1.external.metrics.k8s.io');
      expect(apiService.spec).toMatchObject({
        group: 'external.metrics.k8s.io',
        insecureSkipTLSVerify: false,
        service: { namespace: 'gantry-system', name: 'gantry-metrics-api', port: 443 },
      });
      expect(find(ms, 'Service', 'gantry-metrics-api').spec.ports).toEqual([
        { name: 'https', port: 443, targetPort: 'metrics-api', protocol: 'TCP' },
      ]);
      const c = find(ms, 'Deployment', 'gantry-controller').spec.template.spec.containers[0];
      expect(c.ports.map((p: { name: string }) => p.name).sort()).toEqual(['metrics', 'metrics-api']);
      expect(c.volumeMounts).toContainEqual({ name: 'metrics-api-tls', mountPath: '/etc/gantry/metrics-api', readOnly: true });
      // deploy/base's start script turns the flags on only when the certificate is mounted
      expect(c.args.join(' ')).toContain('if [ -s /etc/gantry/metrics-api/tls.crt ]; then set -- "$@" --metrics-api-addr=0.0.0.0:6443');
      const bindings = ms.filter((m) => m.kind === 'ClusterRoleBinding' || m.kind === 'RoleBinding') as any[];
      expect(bindings.map((b) => b.roleRef.name)).not.toContain('system:auth-delegator');
      expect(find(ms, 'RoleBinding', 'gantry-controller-extension-apiserver-authentication-reader').metadata.namespace).toBe('kube-system');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
