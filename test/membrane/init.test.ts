/**
 * `gantry membrane init`: the keys, a nats-server config fragment that a real server runs
 * with (operator mode, full resolver), the deploy manifests, and an admin .creds that
 * connects — while an anonymous client is refused. It never replaces existing keys.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { connectError, connectNats } from '../../client/nats.js';
import { MembraneAuthority } from '../../membrane/authority.js';
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
