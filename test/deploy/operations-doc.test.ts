/**
 * docs/operations.md's install, upgrade, backup, restore, admin creds, key rotations and
 * uninstall, run as written (every ```sh block whose first line is `# test: NAME`, in the
 * doc's order) against a real kube-apiserver + etcd that has nothing of Gantry yet, with the
 * release's kubectl and the built gantry on PATH and only KUBECONFIG, GANTRY_KEEP and ISSUER
 * (the variables the doc names) set. After each block, what the doc promises is checked.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decodeJwt, MembraneAuthority } from '../../membrane/index.js';
import { KubeClient } from '../../runtime/kube.js';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { controlPlaneAvailable, realKubectl, startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const run = promisify(execFile);
const repo = packageRoot();
const doc = readFileSync(join(repo, 'docs', 'operations.md'), 'utf8');
const blocks = new Map([...doc.matchAll(/```sh\n# test: ([\w-]+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]));
const ISSUER = MembraneAuthority.generate().accountKey;
const GS = '/api/v1/namespaces/gantry-system';
const KEYS = '/api/v1/namespaces/gantry-membrane/secrets/gantry-membrane-keys';
const TLS = `${GS}/secrets/gantry-nats-tls`;
const TRUST = `${GS}/configmaps/gantry-trust`;
const INSTALLED = [
  '/api/v1/namespaces/gantry-system',
  '/api/v1/namespaces/gantry-membrane',
  '/api/v1/namespaces/gantry-nodes',
  KEYS,
  `${GS}/configmaps/gantry-nats-membrane`,
  TLS,
  `${GS}/configmaps/gantry-nats-ca`,
  TRUST,
];

const work = mkdtempSync(join(tmpdir(), 'gantry-ops-doc-'));
const keep = join(work, 'keep');
const bin = join(work, 'bin');
let api: TestApiServer;
let kube: KubeClient;

/** One block of the doc, as written, by /bin/sh -eu. */
async function block(name: string): Promise<string> {
  const script = blocks.get(name);
  if (script === undefined) throw new Error(`docs/operations.md has no \`# test: ${name}\` block`);
  const r = await run('/bin/sh', ['-euc', script], {
    cwd: repo,
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, KUBECONFIG: api.kubeconfigPath, GANTRY_KEEP: keep, ISSUER },
    timeout: 120_000,
  });
  return r.stdout;
}

/** resourceVersion and data of each object install made: any write changes them. */
async function snapshot(paths = INSTALLED): Promise<unknown[]> {
  return Promise.all(paths.map(async (p) => kube.get(p).then((o) => ({ p, rv: o.metadata.resourceVersion, data: o.data }))));
}

const seedsIn = (o: { data: Record<string, string> }) =>
  Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

describe.skipIf(!controlPlaneAvailable())('docs/operations.md, run as written on the real API server', () => {
  beforeAll(async () => {
    api = await startTestApiServer({ ground: 'real', noDeployRbac: true });
    kube = new KubeClient(api.kc);
    mkdirSync(bin);
    mkdirSync(keep, { mode: 0o700 });
    symlinkSync(realKubectl(), join(bin, 'kubectl'));
    writeFileSync(join(bin, 'gantry'), `#!/bin/sh\nexec '${process.execPath}' '${gantryBin()}' "$@"\n`);
    chmodSync(join(bin, 'gantry'), 0o755);
  }, 180_000);
  afterAll(async () => {
    kube?.close();
    await api?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('marks its blocks in the order an operator meets them', () => {
    expect([...blocks.keys()]).toEqual([
      'install',
      'upgrade',
      'backup',
      'restore',
      'admin-creds',
      'rotate-nats-cert',
      'rotate-signing-key',
      'uninstall',
    ]);
  });

  it('install: gantry install, then deploy/base, which leaves the trust it set as it was', async () => {
    const out = await block('install');
    expect(out).toContain('created Secret gantry-membrane/gantry-membrane-keys');
    expect(out).toContain('kubectl -n gantry-membrane get secret gantry-membrane-keys -o yaml >');
    await snapshot(); // every object install makes is there (a 404 throws)
    expect((await kube.get(TRUST)).data['trusted-issuers']).toBe(ISSUER);
    for (const p of [
      '/apis/apps/v1/namespaces/gantry-system/deployments/gantry-controller',
      '/apis/apps/v1/namespaces/gantry-system/daemonsets/gantry-agent',
      '/apis/apps/v1/namespaces/gantry-system/daemonsets/gantry-host-keeper',
      '/apis/apps/v1/namespaces/gantry-system/statefulsets/gantry-nats',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/providers.gantry.dev',
    ])
      await kube.get(p);
    expect(statSync(join(keep, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
  });

  it('upgrade: install again and apply the release; nothing install made changes', async () => {
    const before = await snapshot();
    await block('upgrade');
    expect(await snapshot()).toEqual(before);
  });

  it('backup: the keys Secret in a 0600 file; restore: the lost Secret comes back with the same keys, nothing else changes', async () => {
    await block('backup');
    const file = join(keep, 'gantry-membrane-keys.backup.yaml');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const original = seedsIn(await kube.get(KEYS));
    expect(seedsIn(parse(readFileSync(file, 'utf8')))).toEqual(original);
    const others = await snapshot(INSTALLED.filter((p) => p !== KEYS));
    await kube.delete(KEYS); // the loss
    const out = await block('restore');
    expect(out).toMatch(/^created Secret gantry-membrane\/gantry-membrane-keys$/m);
    expect(seedsIn(await kube.get(KEYS))).toEqual(original);
    expect(await snapshot(INSTALLED.filter((p) => p !== KEYS))).toEqual(others);
  });

  it('admin-creds: fresh admin creds signed by the gantry account, the seeds gone from disk after', async () => {
    rmSync(join(keep, 'admin.creds'));
    await block('admin-creds');
    const creds = readFileSync(join(keep, 'admin.creds'), 'utf8');
    expect(statSync(join(keep, 'admin.creds')).mode & 0o777).toBe(0o600);
    const s = seedsIn(await kube.get(KEYS));
    const a = MembraneAuthority.fromSeeds({
      operator: s['operator.nk']!,
      system: s['system-account.nk']!,
      account: s['gantry-account.nk']!,
    });
    const jwt = /-----BEGIN NATS USER JWT-----\n(\S+)\n/.exec(creds)![1]!;
    expect(decodeJwt(jwt).iss).toBe(a.accountKey);
    expect(existsSync(join(keep, 'keys'))).toBe(false);
  });

  it('rotate-nats-cert: a new certificate and key from the kept CA, the same CA, the servers restarted', async () => {
    const old = (await kube.get(TLS)).data;
    await block('rotate-nats-cert');
    const now = (await kube.get(TLS)).data;
    expect(now['ca.crt']).toBe(old['ca.crt']);
    expect(now['tls.crt']).not.toBe(old['tls.crt']);
    expect(now['tls.key']).not.toBe(old['tls.key']);
    const sts = await kube.get('/apis/apps/v1/namespaces/gantry-system/statefulsets/gantry-nats');
    expect(sts.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toBeTruthy();
  });

  it('rotate-signing-key: the trust moves from the old account key to the new one', async () => {
    await block('rotate-signing-key');
    const { stdout } = await run(process.execPath, [gantryBin(), 'keys', 'public', join(keep, 'account-2.nk')]);
    const next = stdout.trim();
    expect(next).toMatch(/^A[A-Z2-7]{55}$/);
    expect(next).not.toBe(ISSUER);
    expect((await kube.get(TRUST)).data['trusted-issuers']).toBe(next);
  });

  it('uninstall: the CRDs, cluster-wide RBAC and admission policy go; the namespaces (and what install made in them) are being deleted', async () => {
    await block('uninstall');
    const gone = async (p: string) =>
      kube.get(p).then(
        (o) => Boolean(o.metadata.deletionTimestamp),
        () => true,
      );
    const cluster = [
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/providers.gantry.dev',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/providerinstances.gantry.dev',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/capabilitygrants.gantry.dev',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/gantry-controller',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/gantry-agent',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/gantry-agent-node-restriction',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/gantry-agent-node-restriction',
    ];
    for (let i = 0; i < 100 && !(await Promise.all(cluster.map(gone))).every(Boolean); i++) await new Promise((r) => setTimeout(r, 100));
    for (const p of cluster) expect(await gone(p), p).toBe(true);
    // no namespace controller runs beside this bare API server, so the namespaces stay Terminating
    for (const ns of ['gantry-system', 'gantry-membrane', 'gantry-nodes'])
      expect((await kube.get(`/api/v1/namespaces/${ns}`)).metadata.deletionTimestamp, ns).toBeTruthy();
  });
});
