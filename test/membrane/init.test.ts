/**
 * `gantry membrane init`: the keys, a nats-server config fragment that a real server runs
 * with (operator mode, full resolver), the deploy manifests, and an admin .creds that
 * connects — while an anonymous client is refused. It never replaces existing keys. And the
 * bus's TLS: a CA (its key kept out of every manifest), a NATS server certificate naming the
 * StatefulSet's pods, which a real nats-server serves with deploy/'s own tls blocks, and that
 * only a client given the CA accepts.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { connectError, connectNats } from '../../client/nats.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { busTlsFiles, natsClientTlsConfig } from '../../membrane/bus-tls.js';
import { packageRoot } from '../../runtime/paths.js';
import { startNats, type NatsServer } from '../support/nats.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'gantry-membrane-init-'));
let nats: NatsServer | undefined;

afterAll(async () => {
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('writes keys, config and manifests that a real nats-server runs with; refuses to run twice', async () => {
  const resolver = join(dir, 'jwt');
  mkdirSync(resolver);
  const gantry = (args: string[]) => run(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), ...args]);
  await gantry(['membrane', 'init', '--out', join(dir, 'out'), '--resolver-dir', resolver]);
  expect(statSync(join(dir, 'out', 'keys')).mode & 0o777).toBe(0o700);
  expect(statSync(join(dir, 'out', 'keys', 'gantry-account.nk')).mode & 0o777).toBe(0o600);
  const secret = parse(readFileSync(join(dir, 'out', 'gantry-membrane-keys.secret.yaml'), 'utf8'));
  expect(secret).toMatchObject({ kind: 'Secret', metadata: { name: 'gantry-membrane-keys', namespace: 'gantry-membrane' } });
  // the Secret's seeds are the keys the controller loads
  const a = MembraneAuthority.load(join(dir, 'out', 'keys'));
  expect(
    MembraneAuthority.fromSeeds({
      operator: secret.stringData['operator.nk'],
      system: secret.stringData['system-account.nk'],
      account: secret.stringData['gantry-account.nk'],
    }).accountKey,
  ).toBe(a.accountKey);
  const cm = parse(readFileSync(join(dir, 'out', 'gantry-nats-membrane.configmap.yaml'), 'utf8'));
  expect(cm.data['membrane.conf']).toBe(readFileSync(join(dir, 'out', 'membrane.conf'), 'utf8'));

  nats = await startNats({ config: readFileSync(join(dir, 'out', 'membrane.conf'), 'utf8') });
  const admin = await connectNats({ servers: nats.url, credsFile: join(dir, 'out', 'admin.creds') });
  await admin.close();
  const anon = await connectNats({ servers: nats.url, connectTimeoutMs: 3000 }).catch((e) => e);
  expect(connectError(anon, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');

  const again = await gantry(['membrane', 'init', '--out', join(dir, 'out')]).catch((e) => e);
  expect(again.stderr).toMatch(/refusing to replace/);
});

it('makes the bus CA and a NATS server certificate for the StatefulSet; only the CA certificate leaves OUT/ca', async () => {
  const out = join(dir, 'out');
  const cert = (f: string, ...args: string[]) => run('openssl', ['x509', '-in', f, '-noout', ...args]).then((r) => r.stdout);
  const tlsDir = join(out, 'nats-tls');
  expect(readdirSync(tlsDir).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
  expect(statSync(join(tlsDir, 'tls.key')).mode & 0o777).toBe(0o600);
  expect(statSync(join(out, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
  const ext = await cert(join(tlsDir, 'tls.crt'), '-ext', 'subjectAltName,extendedKeyUsage');
  for (const i of [0, 1, 2]) expect(ext).toContain(`DNS:gantry-nats-${i}.gantry-nats-headless.gantry-system.svc`);
  expect(ext).toContain('DNS:gantry-nats.gantry-system.svc');
  expect(ext).toMatch(/IP Address:127\.0\.0\.1/);
  expect(ext).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/); // routes dial out with it too
  await run('openssl', ['verify', '-CAfile', join(out, 'ca', 'ca.crt'), join(tlsDir, 'tls.crt')]);

  const secret = parse(readFileSync(join(out, 'gantry-nats-tls.secret.yaml'), 'utf8'));
  expect(secret).toMatchObject({ kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'gantry-nats-tls' } });
  expect(Object.keys(secret.stringData).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']); // cert-manager's shape
  const caMap = parse(readFileSync(join(out, 'gantry-nats-ca.configmap.yaml'), 'utf8'));
  expect(caMap.data).toEqual({ 'ca.crt': readFileSync(join(out, 'ca', 'ca.crt'), 'utf8') });
  // the CA key is in no file meant for the cluster
  const caKey = readFileSync(join(out, 'ca', 'ca.key'), 'utf8').split('\n')[1];
  for (const f of readdirSync(out).filter((n) => n.endsWith('.yaml'))) expect(readFileSync(join(out, f), 'utf8')).not.toContain(caKey);

  // a real nats-server serves with it; a client given the CA connects, one without is refused in the handshake
  const tlsNats = await startNats({
    config: (d) => {
      mkdirSync(join(d, 'jwt'));
      return (
        natsClientTlsConfig(busTlsFiles(tlsDir)) +
        readFileSync(join(out, 'membrane.conf'), 'utf8').replaceAll(join(dir, 'jwt'), join(d, 'jwt'))
      );
    },
  });
  try {
    const creds = join(out, 'admin.creds');
    const url = `tls://localhost:${tlsNats.port}`;
    await (await connectNats({ servers: url, credsFile: creds, tls: { caFile: join(out, 'ca', 'ca.crt') } })).close();
    const untrusting = await connectNats({ servers: url, credsFile: creds, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(untrusting, { servers: url }).code).toBe('NATS_TLS_FAILED');
  } finally {
    await tlsNats.stop();
  }
});

it('refuses bad TLS flags before writing anything (exit 2, naming the flag)', async () => {
  const gantry = (args: string[]) => run(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), ...args]);
  for (const [flags, msg] of [
    [['--nats-replicas', '0'], /--nats-replicas must be a whole number/],
    [['--nats-name', 'bad name/'], /is not a host name or IP address/],
  ] as const) {
    const out = join(dir, `bad-${flags[0]}`);
    const e = await gantry(['membrane', 'init', '--out', out, ...flags]).catch((x) => x);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(msg);
    expect(() => statSync(out)).toThrow(); // nothing written
  }
});
