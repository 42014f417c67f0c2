/**
 * The .creds file the membrane writes works with a NATS client that is not Gantry's: nats.go,
 * built here from the Go module proxy (pinned in creds-go/go.sum), calls a provider with it,
 * and is refused for an operation the grant does not name.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { callSubjectFor, inboxPrefix, providerSubject } from '../../client/protocol.js';
import { formatCreds } from '../../client/creds.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { packageRoot } from '../../runtime/paths.js';
import { requireBinary } from '../support/binaries.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';
import { NS, buildProviders, stopAllHosts } from '../host/helpers.js';
import { startEchoHost } from './grant-world.js';

const run = promisify(execFile);
let nats: MembraneNats;
let out: string;
let bin: string;

beforeAll(async () => {
  buildProviders();
  const go = requireBinary('go', 'golang');
  out = mkdtempSync(join(tmpdir(), 'gantry-creds-go-'));
  bin = join(out, 'credscheck');
  await run(go, ['build', '-o', bin, '.'], { cwd: join(packageRoot(), 'test', 'membrane', 'creds-go') });
  nats = await startMembraneNats();
  await startEchoHost(nats);
}, 300_000);

afterAll(async () => {
  await stopAllHosts();
  await nats?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

it("nats.go calls a provider with a grant's .creds file, and is refused an operation it was not granted", async () => {
  const kp = createUser();
  const key = kp.getPublicKey();
  const { jwt } = nats.authority.mintUser('go-client', (k) => granteePermissions(k, NS, { provider: 'echo' }, ['Echo']), { userKey: key });
  const creds = nats.writeCreds('go', formatCreds(jwt, new TextDecoder().decode(kp.getSeed())));
  const base = providerSubject(NS, 'echo');
  const ok = await run(bin, [nats.url, creds, inboxPrefix(key), callSubjectFor(base, 'Echo', key), 'hello from Go']);
  expect(ok.stdout.trim()).toBe('REPLY hello from Go');
  const refused = await run(bin, [nats.url, creds, inboxPrefix(key), callSubjectFor(base, 'Whoami', key), '']).catch(
    (e) => e as { stdout: string; code: number },
  );
  expect((refused as { code?: number }).code).toBe(3);
  expect(refused.stdout).toMatch(/ASYNC_ERROR .*[Pp]ermissions [Vv]iolation for [Pp]ublish/);
});
