/**
 * Long-lived creds no longer exist: admin creds expire with the JWT lifetime like every other
 * gantry-account JWT. `gantry membrane admin-creds` renews them from the keys; expired creds are
 * refused before connecting, with the date and how to renew (NATS_AUTH_FAILED), instead of the
 * server's bare "Authorization Violation".
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { connectNats, NatsConnectError } from '../../client/nats.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { parseCreds } from '../../client/creds.js';
import { decodeJwt } from '../../client/jwt.js';
import { adminPermissions } from '../../membrane/permissions.js';
import { packageRoot } from '../../runtime/paths.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'gantry-admin-creds-'));
let nats: MembraneNats | undefined;
afterAll(async () => {
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('`gantry membrane admin-creds` writes fresh admin creds (24 h) that connect', async () => {
  const a = MembraneAuthority.generate();
  a.save(join(dir, 'keys'));
  nats = await startMembraneNats({ authority: a });
  const out = join(dir, 'admin.creds');
  const r = await run(process.execPath, [
    join(packageRoot(), 'bin', 'gantry.js'),
    'membrane',
    'admin-creds',
    '--keys',
    join(dir, 'keys'),
    '-o',
    out,
  ]);
  expect(r.stdout).toMatch(/admin creds valid until \d{4}-/);
  expect(statSync(out).mode & 0o777).toBe(0o600);
  const c = decodeJwt(parseCreds(readFileSync(out, 'utf8')).jwt);
  expect(c.exp).toBe(c.iat + 86_400);
  expect(c.iss).toBe(a.accountKey);
  await (await connectNats({ servers: nats.url, credsFile: out })).close();
});

it('`gantry membrane admin-creds` without keys fails with the reason', async () => {
  const r = await run(process.execPath, [
    join(packageRoot(), 'bin', 'gantry.js'),
    'membrane',
    'admin-creds',
    '--keys',
    join(dir, 'none'),
    '-o',
    join(dir, 'x.creds'),
  ]).catch((e) => e);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/cannot read membrane key .*operator\.nk/);
});

it('expired creds are refused before connecting, saying when and how to renew', async () => {
  // minted 2 s in the past with a 1 s lifetime
  const a = MembraneAuthority.generate({ maxJwtLifetimeSec: 1, now: () => Date.now() - 2000 });
  const f = join(dir, 'expired.creds');
  writeFileSync(f, a.mintUser('admin', adminPermissions).creds!, { mode: 0o600 });
  const e = await connectNats({ servers: 'nats://127.0.0.1:1', credsFile: f }).catch((x) => x);
  expect(e).toBeInstanceOf(NatsConnectError);
  expect(e.code).toBe('NATS_AUTH_FAILED');
  expect(e.message).toMatch(/expired at \d{4}-.*gantry membrane admin-creds/);
});
