/**
 * `gantry install` against an API server that has nothing of Gantry yet (the emulator, and the
 * real kube-apiserver + etcd without deploy/base's RBAC applied): it makes what deploy/base
 * needs, a re-run changes no byte, every half state that cannot be right stops it with its own
 * reason before it writes anything, bad flags are refused before the server is asked, and on
 * the real server `kubectl apply -k deploy/base --dry-run=server` accepts the base after it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { decodeJwt, MembraneAuthority } from '../../membrane/index.js';
import { KubeClient } from '../../runtime/kube.js';
import { gantryIn } from '../support/gantry-cli.js';
import { realKubectl, startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const home = mkdtempSync(join(tmpdir(), 'gantry-install-'));
const dir = join(home, 'keep');
const ISSUER = MembraneAuthority.generate().accountKey;
const OBJECTS = [
  '/api/v1/namespaces/gantry-system',
  '/api/v1/namespaces/gantry-membrane',
  '/api/v1/namespaces/gantry-nodes',
  '/api/v1/namespaces/gantry-membrane/secrets/gantry-membrane-keys',
  '/api/v1/namespaces/gantry-system/configmaps/gantry-nats-membrane',
  '/api/v1/namespaces/gantry-system/secrets/gantry-nats-tls',
  '/api/v1/namespaces/gantry-system/configmaps/gantry-nats-ca',
  '/api/v1/namespaces/gantry-system/configmaps/gantry-trust',
];
const KEYS = OBJECTS[3]!;
const MEMBRANE = OBJECTS[4]!;
const TLS = OBJECTS[5]!;
const CA = OBJECTS[6]!;

let api: TestApiServer;
let kube: KubeClient;
const install = (...args: string[]) => gantryIn(home, home, ['install', '--kubeconfig', api.kubeconfigPath, ...args]);
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Every object install owns, as the server holds it (resourceVersion included: any write changes it). */
async function snapshot(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const p of OBJECTS) {
    try {
      const o = await kube.get(p);
      out[p] = { rv: o.metadata.resourceVersion, data: o.data, labels: o.metadata.labels };
    } catch {
      out[p] = 'absent';
    }
  }
  return out;
}

/** Takes `path` away (or swaps it for `replacement`) for one case, then puts the original back. */
async function without(path: string, replacement: unknown, body: () => Promise<void>): Promise<void> {
  const orig = await kube.get(path);
  await kube.delete(path);
  const coll = path.slice(0, path.lastIndexOf('/'));
  if (replacement) await kube.create(coll, replacement);
  try {
    await body();
  } finally {
    if (replacement) await kube.delete(path);
    const { metadata, ...rest } = orig;
    await kube.create(coll, { ...rest, metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels } });
  }
}

/** The half state's own error, exit 1, and not one object changed. */
async function refused(args: string[], message: RegExp): Promise<void> {
  const before = await snapshot();
  const r = await install(...args);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toContain('gantry install changed nothing');
  expect(r.code).toBe(1);
  expect(await snapshot()).toEqual(before);
}

beforeAll(async () => {
  api = await startTestApiServer({ noDeployRbac: true });
  kube = new KubeClient(api.kc);
}, 180_000);
afterAll(async () => {
  kube?.close();
  await api?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe(`gantry install (${process.env.GANTRY_TEST_APISERVER ?? 'emulated'})`, () => {
  it('refuses bad flags with exit 2 and what is wrong, before asking the server (none at this kubeconfig)', async () => {
    const bad = (...a: string[]) => gantryIn(home, home, ['install', '--kubeconfig', join(home, 'none'), '--dir', dir, ...a]);
    const notSecret = join(home, 'not-a-secret.yaml');
    writeFileSync(notSecret, stringify({ apiVersion: 'v1', kind: 'ConfigMap', data: {} }));
    const noSeed = join(home, 'no-seed.yaml');
    writeFileSync(noSeed, stringify({ apiVersion: 'v1', kind: 'Secret', data: { 'operator.nk': b64('SOX') } }));
    for (const [args, msg] of [
      [['--trust-issuer', 'UABC'], 'install: --trust-issuer UABC: not an account public key (A… 56 characters)'],
      [['--plain-http-registry', 'reg'], 'install: --plain-http-registry reg: expected HOST:PORT'],
      [['--nats-replicas', '0'], 'install: --nats-replicas must be a whole number from 1 to 99, not "0"'],
      [['--nats-name', 'a b'], 'install: "a b" is not a host name or IP address'],
      [['--membrane-keys', join(home, 'missing.yaml')], `install: --membrane-keys ${join(home, 'missing.yaml')}: ENOENT`],
      [['--membrane-keys', notSecret], `install: --membrane-keys ${notSecret}: not a Secret (kind ConfigMap)`],
      [['--membrane-keys', noSeed], `install: --membrane-keys ${noSeed} has no system-account.nk`],
    ] as const) {
      const r = await bad(...args);
      expect(r.stderr, args.join(' ')).toContain(msg);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('--dry-run prints the objects, Secret values withheld, and writes nothing', async () => {
    const before = await snapshot();
    const r = await install('--dir', dir, '--dry-run', '--trust-issuer', ISSUER);
    expect(r.code, r.stderr).toBe(0);
    const kinds = [...r.stdout.matchAll(/^kind: (\w+)\n(?:[\s\S]*?)^ {2}name: ([\w-]+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(kinds).toEqual([
      'Namespace gantry-system',
      'Namespace gantry-membrane',
      'Namespace gantry-nodes',
      'Secret gantry-membrane-keys',
      'ConfigMap gantry-nats-membrane',
      'Secret gantry-nats-tls',
      'ConfigMap gantry-nats-ca',
      'ConfigMap gantry-trust',
    ]);
    expect(r.stdout).toMatch(/operator\.nk: <\d+ bytes, withheld>/);
    expect(r.stdout).not.toMatch(/SO[A-Z2-7]{50,}|PRIVATE KEY/);
    expect(r.stdout).toContain(`trusted-issuers: ${ISSUER}`);
    expect(await snapshot()).toEqual(before);
    expect(Object.values(before).every((v) => v === 'absent')).toBe(true);
    expect(existsSync(dir)).toBe(false);
    // a Helm chart that renders gantry-trust owns it: install leaves it out
    const helm = await install('--dir', dir, '--dry-run', '--no-trust-policy');
    expect(helm.stdout).toContain('name: gantry-nats-ca');
    expect(helm.stdout).not.toContain('gantry-trust');
  });

  it('a fresh install makes every object deploy/base needs and says what to keep', async () => {
    const r = await install('--dir', dir, '--trust-issuer', ISSUER, '--plain-http-registry', 'registry.local:5000');
    expect(r.code, r.stderr).toBe(0);
    for (const p of OBJECTS) expect(r.stdout).toMatch(new RegExp(`^created \\w+ (gantry-\\w+/)?${p.split('/').pop()}$`, 'm'));
    expect(r.stdout).toContain('back it up (0600):  (umask 077; kubectl -n gantry-membrane get secret gantry-membrane-keys -o yaml > ');
    expect(r.stdout).toContain('restore it:         gantry install --membrane-keys gantry-membrane-keys.backup.yaml');
    const keys = await kube.get(KEYS);
    const seed = (k: string) => Buffer.from(keys.data[k], 'base64').toString();
    const a = MembraneAuthority.fromSeeds({
      operator: seed('operator.nk'),
      system: seed('system-account.nk'),
      account: seed('gantry-account.nk'),
    });
    const conf = (await kube.get(MEMBRANE)).data['membrane.conf'] as string;
    expect(decodeJwt(/^operator: (\S+)$/m.exec(conf)![1]!).sub).toBe(a.operatorKey);
    expect(conf).toContain(`system_account: ${a.systemAccountKey}`);
    expect(r.stdout).toContain(`gantry account ${a.accountKey}`);
    // the CA's key stays in --dir; the cluster holds its certificate only, in both objects alike
    const caCrt = readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8');
    expect((await kube.get(CA)).data['ca.crt']).toBe(caCrt);
    const tls = (await kube.get(TLS)).data;
    expect(Buffer.from(tls['ca.crt'], 'base64').toString()).toBe(caCrt);
    const caKeyBody = readFileSync(join(dir, 'ca', 'ca.key'), 'utf8').split('\n')[1]!;
    const values = Object.values(await snapshot()).flatMap((o: any) => Object.values(o?.data ?? {}) as string[]);
    expect(values.flatMap((v) => [v, Buffer.from(v, 'base64').toString()]).some((v) => v.includes(caKeyBody))).toBe(false);
    for (const f of ['ca/ca.key', 'admin.creds']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect((await kube.get(OBJECTS[7]!)).data).toEqual({
      'trusted-issuers': ISSUER,
      'plain-http-registries': 'registry.local:5000',
      'log-keys': '',
      'require-log': 'false',
    });
    expect((await kube.get(OBJECTS[1]!)).metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('a re-run keeps everything: not one byte changes, in the cluster or in --dir', async () => {
    const before = await snapshot();
    const files = ['ca/ca.crt', 'ca/ca.key', 'admin.creds'].map((f) => [readFileSync(join(dir, f)), statSync(join(dir, f)).mtimeMs]);
    const r = await install('--dir', dir, '--trust-issuer', MembraneAuthority.generate().accountKey);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('created');
    expect(r.stdout.match(/^kept .*: already there, not changed$/gm)).toHaveLength(OBJECTS.length);
    expect(r.stdout).toContain('the --trust-issuer/--plain-http-registry flags were not applied');
    expect(await snapshot()).toEqual(before);
    expect(['ca/ca.crt', 'ca/ca.key', 'admin.creds'].map((f) => [readFileSync(join(dir, f)), statSync(join(dir, f)).mtimeMs])).toEqual(
      files,
    );
  });

  describe('half states that cannot be right: a specific error, nothing changed', () => {
    it('the keys without the NATS config made from them', () =>
      without(MEMBRANE, undefined, () =>
        refused(
          ['--dir', dir],
          /the Secret gantry-membrane\/gantry-membrane-keys holds membrane keys but the ConfigMap gantry-nats-membrane .* is missing/,
        ),
      ));

    it('a NATS config naming other keys', async () => {
      const other = MembraneAuthority.generate().serverConfig('/data/jwt');
      const cm = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'gantry-nats-membrane', namespace: 'gantry-system' },
        data: { 'membrane.conf': other },
      };
      await without(MEMBRANE, cm, () =>
        refused(['--dir', dir], /the ConfigMap gantry-system\/gantry-nats-membrane names another operator or system account than the keys/),
      );
    });

    it('a keys Secret that lacks a seed', async () => {
      const keys = await kube.get(KEYS);
      const broken = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'gantry-membrane-keys', namespace: 'gantry-membrane' },
        data: { 'operator.nk': keys.data['operator.nk'] },
      };
      await without(KEYS, broken, () =>
        refused(['--dir', dir], /the Secret gantry-membrane\/gantry-membrane-keys has no system-account\.nk/),
      );
    });

    it('the NATS config without its keys; restored from a backup of the Secret, install keeps that backup', async () => {
      const backup = join(home, 'keys.backup.yaml');
      const { stdout } = await run(realKubectlOrEmulated(), [
        '--kubeconfig',
        api.kubeconfigPath,
        '-n',
        'gantry-membrane',
        'get',
        'secret',
        'gantry-membrane-keys',
        '-o',
        'yaml',
      ]);
      writeFileSync(backup, stdout, { mode: 0o600 });
      const original = (await kube.get(KEYS)).data;
      await kube.delete(KEYS);
      await refused(
        ['--dir', dir],
        /the ConfigMap gantry-system\/gantry-nats-membrane .* is there but the Secret gantry-membrane-keys with its keys is not/,
      );
      // another install's backup is not these keys
      const foreign = join(home, 'foreign.yaml');
      const f = MembraneAuthority.generate().seeds();
      writeFileSync(
        foreign,
        stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          stringData: { 'operator.nk': f.operator, 'system-account.nk': f.system, 'gantry-account.nk': f.account },
        }),
      );
      await refused(['--dir', dir, '--membrane-keys', foreign], /and --membrane-keys .*foreign\.yaml holds other keys than it names/);
      const r = await install('--dir', dir, '--membrane-keys', backup);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^created Secret gantry-membrane\/gantry-membrane-keys$/m);
      expect((await kube.get(KEYS)).data).toEqual(original);
      // and with the keys back, the same backup is simply kept; a foreign one is refused
      const again = await install('--dir', dir, '--membrane-keys', backup);
      expect(again.stdout).not.toContain('created');
      await refused(
        ['--dir', dir, '--membrane-keys', foreign],
        /the cluster's Secret gantry-membrane\/gantry-membrane-keys holds other keys than .*foreign\.yaml; it is kept as it is/,
      );
    });

    it('a cluster without the keys or their config (a new one): the backup brings both back, the config made from its keys', async () => {
      const backup = join(home, 'keys.backup.yaml'); // written by the case above
      const original = (await kube.get(KEYS)).data;
      const oldConf = (await kube.get(MEMBRANE)).data['membrane.conf'] as string;
      await kube.delete(KEYS);
      await kube.delete(MEMBRANE);
      const r = await install('--dir', dir, '--membrane-keys', backup);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^created Secret gantry-membrane\/gantry-membrane-keys$/m);
      expect(r.stdout).toMatch(/^created ConfigMap gantry-system\/gantry-nats-membrane$/m);
      expect((await kube.get(KEYS)).data).toEqual(original);
      const conf = (await kube.get(MEMBRANE)).data['membrane.conf'] as string;
      const line = (c: string, k: string) => new RegExp(`^${k}: (\\S+)$`, 'm').exec(c)![1];
      expect(decodeJwt(line(conf, 'operator')!).sub).toBe(decodeJwt(line(oldConf, 'operator')!).sub);
      expect(line(conf, 'system_account')).toBe(line(oldConf, 'system_account'));
    });

    it("the NATS servers' certificate without the CA clients trust, and one whose CA is not that CA", async () => {
      await without(CA, undefined, () =>
        refused(['--dir', dir], /the Secret gantry-system\/gantry-nats-tls .* is there but the ConfigMap gantry-nats-ca/),
      );
      const otherCa = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'gantry-nats-ca', namespace: 'gantry-system' },
        data: { 'ca.crt': 'another CA\n' },
      };
      await without(CA, otherCa, () =>
        refused(
          ['--dir', dir],
          /the Secret gantry-system\/gantry-nats-tls's ca\.crt is not the CA in the ConfigMap gantry-system\/gantry-nats-ca/,
        ),
      );
    });

    it('the CA without a server certificate: refused without the CA key, a new certificate from the kept CA with it (the rotation)', async () => {
      const old = (await kube.get(TLS)).data;
      await kube.delete(TLS);
      await refused(['--dir', join(home, 'elsewhere')], /names a CA but the Secret gantry-nats-tls is missing, and no CA is kept in --dir/);
      const r = await install('--dir', dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^created Secret gantry-system\/gantry-nats-tls$/m);
      const now = (await kube.get(TLS)).data;
      expect(now['ca.crt']).toBe(old['ca.crt']);
      expect(now['tls.crt']).not.toBe(old['tls.crt']);
      expect(now['tls.key']).not.toBe(old['tls.key']);
    });

    it('a --dir holding half a CA', async () => {
      const half = join(home, 'half');
      await run('mkdir', ['-p', join(half, 'ca')]);
      writeFileSync(join(half, 'ca', 'ca.crt'), readFileSync(join(dir, 'ca', 'ca.crt')));
      const before = await snapshot();
      const r = await install('--dir', half);
      expect([r.code, r.stderr]).toEqual([
        1,
        `gantry: install: ${join(half, 'ca')} holds only one of ca.crt and ca.key; restore the other (a new CA would not be the one clients trust)\n`,
      ]);
      expect(await snapshot()).toEqual(before);
    });
  });

  it.runIf(process.env.GANTRY_TEST_APISERVER === 'real')(
    'after it, the real API server accepts deploy/base (kubectl apply -k --dry-run=server)',
    async () => {
      const r = await run(
        realKubectl(),
        ['--kubeconfig', api.kubeconfigPath, 'apply', '-k', join(repo, 'deploy', 'base'), '--dry-run=server'],
        { timeout: 60_000 },
      );
      expect(r.stdout).toMatch(/daemonset\.apps\/gantry-agent created \(server dry run\)/);
      expect(r.stdout).toMatch(/statefulset\.apps\/gantry-nats created \(server dry run\)/);
    },
  );
});

/** kubectl: the real control plane's release when built, else the one on PATH (the emulator speaks to either). */
function realKubectlOrEmulated(): string {
  try {
    return realKubectl();
  } catch {
    return 'kubectl';
  }
}
