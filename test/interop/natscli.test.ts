/**
 * NATS clients Gantry's authors did not write — natscli v0.5.0 (`nats request`) and nats.py
 * 2.16.0, built by scripts/interop-tools.sh — call a provider through the membrane (a real
 * nats-server in operator mode, the echo host on its own host credentials) with a grant's
 * .creds file and the inbox prefix docs/protocol.md documents: the reply is the one `gantry
 * call` gets; an operation the grant does not name is refused; without the prefix no reply
 * can arrive. The commands are the ones docs/protocol.md shows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { formatCreds } from '../../client/creds.js';
import { callSubjectFor, inboxPrefix, providerSubject } from '../../client/protocol.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { packageRoot } from '../../runtime/paths.js';
import { NS, buildProviders, stopAllHosts } from '../host/helpers.js';
import { startEchoHost } from '../membrane/grant-world.js';
import { natscli, natsPy } from '../support/interop-tools.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';

const run = promisify(execFile);
const cli = natscli();
const py = natsPy();
let nats: MembraneNats;
let home: string;
let key: string;
let creds: string;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A process's exit status and output, whether it succeeded or not. */
async function ran(bin: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  try {
    const r = await run(bin, args, { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), ...env }, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const subject = (op: string) => callSubjectFor(providerSubject(NS, 'echo'), op, key);

/** `nats request` exactly as docs/protocol.md shows it (`withPrefix` false: natscli's default inbox). */
function natsRequest(op: string, body: string, withPrefix = true): Promise<Ran> {
  const inbox = withPrefix ? ['--inbox-prefix', inboxPrefix(key)] : [];
  return ran(cli.bin, ['request', '--server', nats.url, '--creds', creds, ...inbox, '--timeout', '2s', '--raw', subject(op), body]);
}

function gantryCall(op: string, body: string): Promise<Ran> {
  return ran(process.execPath, [
    join(packageRoot(), 'bin', 'gantry.js'),
    'call',
    '-n',
    NS,
    'echo',
    op,
    '--data',
    body,
    '--nats',
    nats.url,
    '--creds',
    creds,
    '--no-activate',
  ]);
}

beforeAll(async () => {
  if (cli.missing && py.missing) return;
  buildProviders();
  home = mkdtempSync(join(tmpdir(), 'gantry-natscli-'));
  nats = await startMembraneNats();
  await startEchoHost(nats);
  const kp = createUser();
  key = kp.getPublicKey();
  const { jwt } = nats.authority.mintUser('interop-client', (k) => granteePermissions(k, NS, { provider: 'echo' }, ['Echo', 'Whoami']), {
    userKey: key,
  });
  creds = nats.writeCreds('interop', formatCreds(jwt, new TextDecoder().decode(kp.getSeed())));
}, 300_000);

afterAll(async () => {
  await stopAllHosts();
  await nats?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(cli.missing)(`natscli (${cli.missing ?? cli.bin})`, () => {
  it('`nats request --creds --inbox-prefix` gets the reply `gantry call` gets', async () => {
    for (const [op, body] of [
      ['Echo', 'hello from natscli'],
      ['Whoami', ''],
    ]) {
      const theirs = await natsRequest(op, body);
      const ours = await gantryCall(op, body);
      expect(ours.code, ours.stderr).toBe(0);
      expect(theirs.code, theirs.stderr).toBe(0);
      expect(theirs.stdout.trim()).toBe(ours.stdout.trim());
    }
    // the host saw the grantee's key as the caller: the membrane, not the client, says who calls
    expect((await natsRequest('Whoami', '')).stdout.trim()).toBe(key);
    expect((await natsRequest('Echo', 'x')).stdout.trim()).toBe('x');
  });

  // natscli v0.5.0 exits 0 when no reply comes within --timeout (cli/req_command.go breaks out of
  // its loop on a timeout): a script must look for the reply, not the exit status
  it('an operation the grant does not name is refused: a publish permissions violation on stderr, no reply (exit 0)', async () => {
    const refused = await natsRequest('TraceContext', '');
    expect(refused.code).toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/[Pp]ermissions [Vv]iolation for [Pp]ublish to "gantry\.host-test\.provider\.echo\.TraceContext\./);
  });

  it('without --inbox-prefix the reply inbox is one the grant may not subscribe to: refused, no reply (exit 0)', async () => {
    const refused = await natsRequest('Echo', 'hello', false);
    expect(refused.code).toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/[Pp]ermissions [Vv]iolation for [Ss]ubscription to "_INBOX\./);
  });
});

describe.skipIf(py.missing)(`nats.py (${py.missing ?? py.bin})`, () => {
  const program = join(packageRoot(), 'test', 'interop', 'creds_request.py');
  const request = (op: string, body: string, prefix = inboxPrefix(key)) =>
    ran(py.bin, [program, nats.url, creds, prefix, subject(op), body]);

  it('nats.py with the .creds and the inbox prefix gets the reply `gantry call` gets', async () => {
    const ours = await gantryCall('Echo', 'hello from nats.py');
    const theirs = await request('Echo', 'hello from nats.py');
    expect(theirs.code, theirs.stdout + theirs.stderr).toBe(0);
    expect(theirs.stdout.trim()).toBe(`REPLY ${ours.stdout.trim()}`);
    expect((await request('Whoami', '')).stdout.trim()).toBe(`REPLY ${key}`);
  });

  it('nats.py is refused an operation the grant does not name, and gets no reply without the prefix', async () => {
    const refused = await request('TraceContext', '');
    expect(refused.code).toBe(3);
    expect(refused.stdout).toMatch(/ASYNC_ERROR .*[Pp]ermissions [Vv]iolation for [Pp]ublish/);
    const noPrefix = await request('Echo', 'hello', '');
    expect(noPrefix.code).toBe(3);
    expect(noPrefix.stdout).toMatch(/ASYNC_ERROR .*[Pp]ermissions [Vv]iolation for [Ss]ubscription/);
  });
});
