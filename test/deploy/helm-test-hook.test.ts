/**
 * The chart's `helm test` hook runs the command it renders: its Pod's `gantry call` arguments,
 * rendered from the values, call the echo provider through a real nats-server in operator mode
 * (the membrane) with a caller's .creds file from a grant, and get its reply; with creds the grant
 * does not cover, the same command fails. Only what a cluster alone has is swapped: the NATS URL
 * list and bus CA (this server is local and plain) and the Secret's mount path (a local file).
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCreds } from '../../client/creds.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { packageRoot } from '../../runtime/paths.js';
import { NS, buildProviders, stopAllHosts } from '../host/helpers.js';
import { startEchoHost } from '../membrane/grant-world.js';
import { helmMissing } from '../support/helm.js';
import { type MembraneNats, startMembraneNats } from '../support/nats.js';
import { helmHome, render } from './helm-render.js';

const run = promisify(execFile);
const skip = helmMissing();
let nats: MembraneNats;
let home = '';

/** The hook Pod's arguments as rendered, with the cluster's NATS and the Secret's mount swapped for local ones. */
async function hookArgs(operation: string, data: string, creds: string): Promise<string[]> {
  const ms = await render(home, {
    'tests.call': { enabled: true, provider: 'echo', namespace: NS, operation, data, credsSecret: 'caller', credsKey: 'creds' },
  });
  const pod = ms.find((m) => m.kind === 'Pod') as any;
  const c = pod.spec.containers[0];
  expect(c.command).toEqual(['node', '/app/bin/gantry.js', 'call']);
  const mount = c.volumeMounts.find((v: { name: string }) => v.name === 'caller').mountPath;
  return (c.args as string[])
    .filter((a) => !a.startsWith('--nats-ca='))
    .map((a) => (a.startsWith('--nats=') ? `--nats=${nats.url}` : a === `--creds=${mount}/creds` ? `--creds=${creds}` : a));
}

async function call(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), 'call', ...args], { timeout: 30_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

function grantCreds(ops: string[]): string {
  const kp = createUser();
  const { jwt } = nats.authority.mintUser('helm-test-caller', (k) => granteePermissions(k, NS, { provider: 'echo' }, ops), {
    userKey: kp.getPublicKey(),
  });
  return nats.writeCreds('caller', formatCreds(jwt, new TextDecoder().decode(kp.getSeed())));
}

describe.skipIf(skip)(`helm test hook (${skip ?? 'gantry call as rendered'})`, () => {
  beforeAll(async () => {
    buildProviders();
    home = helmHome();
    nats = await startMembraneNats();
    await startEchoHost(nats);
  }, 300_000);
  afterAll(async () => {
    await stopAllHosts();
    await nats?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("calls the Provider the values name with the caller's creds and exits 0 with its reply", async () => {
    const r = await call(await hookArgs('Echo', 'hello from helm test', grantCreds(['Echo'])));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe('hello from helm test');
  });

  it('fails (non-zero: the hook Pod fails, so does helm test) when the creds do not cover the operation', async () => {
    const r = await call(await hookArgs('Echo', 'x', grantCreds(['Whoami'])));
    expect(r.code).not.toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/FORBIDDEN: the membrane refused this call to provider host-test\/echo: Permissions Violation for Publish/);
  });
});
