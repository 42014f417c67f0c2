/**
 * The CLI's side of the encrypted bus: `gantry call --nats-ca` (or $GANTRY_NATS_CA) verifies a
 * TLS nats-server with the Gantry CA; without it the call fails NATS_TLS_FAILED in the
 * handshake, and a `tls://` URL to a server without TLS fails the same way instead of
 * talking plain text. `gantry controller --nats-ca` names a missing file (exit 2) before it
 * starts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBusCa, issueNatsServerCert } from '../../membrane/bus-pki.js';
import { type BusTlsFiles, natsClientTlsConfig } from '../../membrane/bus-tls.js';
import { packageRoot } from '../../runtime/paths.js';
import { type NatsServer, startNats } from '../support/nats.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'gantry-bus-cli-'));
let tls: BusTlsFiles;
let server: NatsServer;
let plain: NatsServer;

beforeAll(async () => {
  tls = await issueNatsServerCert(await ensureBusCa(join(dir, 'ca')), join(dir, 'server'), ['localhost', '127.0.0.1']);
  server = await startNats({ config: natsClientTlsConfig(tls) });
  plain = await startNats();
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await plain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `gantry call nobody Get --json` with these flags and env; its JSON answer (the error code when it fails). */
async function call(flags: string[], env: Record<string, string> = {}): Promise<{ error?: string; message?: string }> {
  const r = await run(
    process.execPath,
    [join(packageRoot(), 'bin', 'gantry.js'), 'call', 'nobody', 'Get', '--json', '--timeout', '3000', ...flags],
    {
      env: { PATH: process.env.PATH, HOME: dir, GANTRY_LOG_LEVEL: 'fatal', ...env },
    },
  ).catch((e) => e as { stdout: string });
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

it('gantry call: with the CA (flag or env) it reaches the TLS server; without it, NATS_TLS_FAILED', async () => {
  const url = `tls://127.0.0.1:${server.port}`;
  // connected: the call itself finds no provider
  expect((await call(['--nats', url, '--nats-ca', tls.caFile])).error).toBe('NO_RESPONDERS');
  expect((await call(['--nats', url], { GANTRY_NATS_CA: tls.caFile })).error).toBe('NO_RESPONDERS');
  const untrusting = await call(['--nats', url]);
  expect(untrusting.error).toBe('NATS_TLS_FAILED');
  expect(untrusting.message).toMatch(/certificate|issuer/i);
}, 30_000);

it('gantry call: a tls:// URL to a server without TLS is NATS_TLS_FAILED, never plain text', async () => {
  const r = await call(['--nats', `tls://127.0.0.1:${plain.port}`]);
  expect(r.error).toBe('NATS_TLS_FAILED');
  expect(r.message).toMatch(/does not support 'tls'/);
}, 30_000);

it('gantry controller: --nats-ca naming no file is exit 2 before anything starts', async () => {
  const e = await run(process.execPath, [
    join(packageRoot(), 'bin', 'gantry.js'),
    'controller',
    '--membrane-keys',
    join(dir, 'keys'),
    '--membrane-nats',
    'tls://127.0.0.1:1',
    '--nats-ca',
    join(dir, 'missing.crt'),
  ]).catch((x) => x);
  expect(e.code).toBe(2);
  expect(e.stderr).toMatch(/--nats-ca .*missing\.crt: no such file/);
}, 30_000);
