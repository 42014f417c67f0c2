/**
 * CapabilityGrants end to end: the API emulator, the controller holding the membrane keys, a
 * real nats-server in operator mode and an echo host. A grant's status.userJwt plus the
 * grantee's own seed is a working .creds file for exactly what it names; deleting the grant
 * or letting it expire refuses new calls within 2 s. (Instance host identities: host-identity.test.ts.)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { fromSeed } from '@nats-io/nkeys';
import { GRANT_FINALIZER } from '../../api/index.js';
import { grantsPath } from '../../controller/grants/reconcile.js';
import { callProvider, CallError } from '../../client/call.js';
import { connectError, connectNats } from '../../client/nats.js';
import { formatCreds } from '../../client/creds.js';
import { decodeJwt, encodeJwt } from '../../client/jwt.js';
import { isNotFound, type KubeClient } from '../../runtime/kube.js';
import type { TestApiServer } from '../support/apiserver.js';
import type { MembraneNats } from '../support/nats.js';
import { NS, buildProviders, callError, text } from '../host/helpers.js';
import { GrantWorld, user, waitFor } from './grant-world.js';

/** The grant JWT lifetime of this file's controller: short, so a renewal happens within a test. */
const LIFETIME_S = 9;
const run = promisify(execFile);
let api: TestApiServer;
let kube: KubeClient;
let nats: MembraneNats;

async function createGrant(name: string, spec: Record<string, unknown>) {
  await kube.create(grantsPath(NS), {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'CapabilityGrant',
    metadata: { name, namespace: NS },
    spec,
  });
}

const getGrant = (name: string) => kube.get(`${grantsPath(NS)}/${name}`);
const ready = (g: any) => g?.status?.conditions?.find((c: any) => c.type === 'Ready');

async function readyGrant(name: string, reason: string): Promise<any> {
  return waitFor(`grant ${name} ${reason}`, async () => {
    const g = await getGrant(name);
    return ready(g)?.reason === reason ? g : undefined;
  });
}

/** ms from `since` until a fresh connection with these creds is refused; throws past 2 s. */
async function refusedWithin2s(creds: string, since: number): Promise<number> {
  for (;;) {
    const nc = await connectNats({ servers: nats.url, credsFile: creds, connectTimeoutMs: 2000 }).catch((e) => e as Error);
    if (nc instanceof Error) {
      expect(connectError(nc, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
      return Date.now() - since;
    }
    const r = await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'x', timeoutMs: 1000 }).catch((e) => e);
    await nc.close().catch(() => {});
    if (r instanceof CallError && r.code === 'FORBIDDEN') return Date.now() - since;
    if (Date.now() - since > 2000) throw new Error(`still served ${Date.now() - since} ms later`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

const world = new GrantWorld({ namespaces: [NS], echoHost: true, controller: { grantJwtLifetimeMs: LIFETIME_S * 1000 } });
beforeAll(async () => {
  buildProviders();
  await world.start();
  ({ api, kube, nats } = world);
}, 60_000);
afterAll(() => world.stop());

describe('CapabilityGrant', () => {
  it('is issued with exactly its operations; deleting it revokes the grantee within 2 s and removes the finalizer', async () => {
    const u = user();
    await createGrant('echo-only', { grantee: { nkey: u.key }, provider: 'echo', operations: ['Echo'] });
    const g = await readyGrant('echo-only', 'Issued');
    expect(g.metadata.finalizers).toContain(GRANT_FINALIZER);
    expect(ready(g).status).toBe('True');
    const creds = nats.writeCreds('echo-only', formatCreds(g.status.userJwt, u.seed));
    const nc = await connectNats({ servers: nats.url, credsFile: creds });
    try {
      expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'granted' })).reply)).toBe('granted');
      expect((await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami', timeoutMs: 5000 }))).code).toBe(
        'FORBIDDEN',
      );
    } finally {
      await nc.close().catch(() => {});
    }
    const t0 = Date.now();
    await kube.delete(`${grantsPath(NS)}/echo-only`);
    const ms = await refusedWithin2s(creds, t0);
    console.log(`deleted grant: new calls refused ${ms} ms after the delete request`);
    await waitFor('grant gone', async () => {
      try {
        await getGrant('echo-only');
        return undefined;
      } catch (e) {
        return isNotFound(e) ? true : undefined;
      }
    });
  });

  it('expires: refused within 2 s of spec.expires, status Expired', async () => {
    const u = user();
    const expires = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000);
    await createGrant('short-lived', { grantee: { nkey: u.key }, provider: 'echo', operations: ['*'], expires: expires.toISOString() });
    const g = await readyGrant('short-lived', 'Issued');
    expect(decodeJwt(g.status.userJwt).exp).toBe(Math.floor(expires.getTime() / 1000)); // the grant ends before the lifetime
    const creds = nats.writeCreds('short-lived', formatCreds(g.status.userJwt, u.seed));
    const nc = await connectNats({ servers: nats.url, credsFile: creds });
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami' })).reply)).toBe(u.key);
    await nc.close();
    while (Date.now() < expires.getTime()) await new Promise((r) => setTimeout(r, 25));
    const ms = await refusedWithin2s(creds, expires.getTime());
    console.log(`expired grant: new calls refused ${ms} ms after spec.expires`);
    const after = await readyGrant('short-lived', 'Expired');
    expect(after.status.userJwt).toBeUndefined();
  });

  it('every JWT expires (iat + lifetime); it is renewed for the same key with a third left, and the old one ends at its exp', async () => {
    const u = user();
    await createGrant('renewed', { grantee: { nkey: u.key }, provider: 'echo', operations: ['Whoami'] });
    const first = await readyGrant('renewed', 'Issued');
    const c1 = decodeJwt(first.status.userJwt);
    expect(c1.exp! - c1.iat).toBe(LIFETIME_S);
    expect(ready(first).message).toContain(new Date(c1.exp! * 1000).toISOString());
    const oldCreds = nats.writeCreds('renewed-1', formatCreds(first.status.userJwt, u.seed));
    const second = await waitFor(
      'renewed',
      async () => {
        const g = await getGrant('renewed');
        return g.status?.userJwt && g.status.userJwt !== first.status.userJwt ? g : undefined;
      },
      LIFETIME_S * 1000,
    );
    const c2 = decodeJwt(second.status.userJwt);
    expect(c2.sub).toBe(u.key);
    expect(c2.iat).toBeGreaterThan(c1.iat);
    expect(c2.exp! - c2.iat).toBe(LIFETIME_S);
    // renewed with less than a third left, not earlier
    expect(c2.iat).toBeGreaterThanOrEqual(c1.exp! - Math.ceil(LIFETIME_S / 3) - 1);
    expect(second.status.issuedAt).toBe(new Date(c2.iat * 1000).toISOString());
    expect(ready(second).reason).toBe('Issued');
    // the renewal revoked nothing: the old creds work until their exp, then nats-server refuses them
    const nc = await connectNats({ servers: nats.url, credsFile: oldCreds });
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami' })).reply)).toBe(u.key);
    await nc.closed(); // nats-server closes it at exp
    expect(Date.now()).toBeGreaterThanOrEqual(c1.exp! * 1000);
    const refused = await connectNats({ servers: nats.url, credsFile: oldCreds, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(refused, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
    const fresh = await connectNats({
      servers: nats.url,
      credsFile: nats.writeCreds('renewed-2', formatCreds(second.status.userJwt, u.seed)),
    });
    expect(text((await callProvider(fresh, { namespace: NS, provider: 'echo', op: 'Whoami' })).reply)).toBe(u.key);
    await fresh.close();
  }, 30_000);

  it('a JWT without exp (issued before lifetimes) is revoked and replaced by one that expires', async () => {
    const u = user();
    await createGrant('legacy', { grantee: { nkey: u.key }, provider: 'echo', operations: ['Whoami'] });
    const g = await readyGrant('legacy', 'Issued');
    // what an older controller wrote: the same permissions, no exp
    // (signed with the account key directly: the authority itself no longer mints a JWT without exp)
    const account = fromSeed(new TextEncoder().encode(nats.authority.seeds().account));
    const legacy = { jwt: encodeJwt(account, { sub: u.key, name: 'grant:legacy', nats: decodeJwt(g.status.userJwt).nats as any }) };
    expect(decodeJwt(legacy.jwt).exp).toBeUndefined();
    await kube.mergePatch(`${grantsPath(NS)}/legacy/status`, { status: { userJwt: legacy.jwt } });
    const creds = nats.writeCreds('legacy', formatCreds(legacy.jwt, u.seed));
    const nc = await connectNats({ servers: nats.url, credsFile: creds });
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami' })).reply)).toBe(u.key);
    // a finalizer change brings the grant back to the reconciler (as a resync would)
    await kube.mergePatch(`${grantsPath(NS)}/legacy`, { metadata: { finalizers: [GRANT_FINALIZER, 'test.gantry.dev/poke'] } });
    const renewed = await waitFor('replaced', async () => {
      const x = await getGrant('legacy');
      return x.status?.userJwt && x.status.userJwt !== legacy.jwt ? x : undefined;
    });
    expect(decodeJwt(renewed.status.userJwt).exp).toBeDefined();
    await nc.closed(); // revoked: the server closes its connection
    const refused = await connectNats({ servers: nats.url, credsFile: creds, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(refused, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
    await kube.mergePatch(`${grantsPath(NS)}/legacy`, { metadata: { finalizers: [GRANT_FINALIZER] } });
  });

  it('a spec naming both a provider and a capability id is InvalidSpec, and nothing is issued', async () => {
    await createGrant('both', { grantee: { nkey: user().key }, provider: 'echo', capabilityId: 'gantry:echo', operations: ['Echo'] });
    const g = await readyGrant('both', 'InvalidSpec');
    expect(g.status.userJwt).toBeUndefined();
    expect(ready(g).message).toMatch(/exactly one of spec.provider and spec.capabilityId/);
  });

  it('a changed spec re-issues: the old JWT stops working, the new one allows the new operations', async () => {
    const u = user();
    await createGrant('changing', { grantee: { nkey: u.key }, provider: 'echo', operations: ['Echo'] });
    const first = await readyGrant('changing', 'Issued');
    await kube.mergePatch(`${grantsPath(NS)}/changing`, { spec: { operations: ['Whoami'] } });
    const second = await waitFor('re-issued', async () => {
      const g = await getGrant('changing');
      return g.status?.observedGeneration === g.metadata.generation && g.status.userJwt !== first.status.userJwt ? g : undefined;
    });
    await refusedWithin2s(nats.writeCreds('old', formatCreds(first.status.userJwt, u.seed)), Date.now());
    const nc = await connectNats({ servers: nats.url, credsFile: nats.writeCreds('new', formatCreds(second.status.userJwt, u.seed)) });
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami' })).reply)).toBe(u.key);
    expect((await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', timeoutMs: 5000 }))).code).toBe('FORBIDDEN');
    await nc.close();
  });
});

describe("the caller's CLI", () => {
  it('keys generate → a grant → grant creds → call --creds (and $GANTRY_NATS_CREDS); the wrong seed is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grant-cli-'));
    try {
      const kc = join(dir, 'kubeconfig');
      writeFileSync(kc, api.kubeconfigYaml);
      const seed = join(dir, 'me.nk');
      const key = (await gantry(['keys', 'generate', '--type', 'user', '--out', seed])).stdout
        .trim()
        .split(/\s+/)
        .find((w) => /^U[A-Z2-7]{55}$/.test(w))!;
      expect(key).toMatch(/^U/);
      await createGrant('cli', { grantee: { nkey: key }, provider: 'echo', operations: ['Echo', 'Whoami'] });
      await readyGrant('cli', 'Issued');
      const creds = join(dir, 'me.creds');
      await gantry(['grant', 'creds', 'cli', '-n', NS, '--nkey', seed, '-o', creds, '--kubeconfig', kc]);
      const r = await gantry(['call', '-n', NS, 'echo', 'Whoami', '--nats', nats.url, '--creds', creds]);
      expect(r.stdout.trim()).toBe(key);
      const viaEnv = await gantry(['call', '-n', NS, 'echo', 'Echo', '--data', 'env', '--nats', nats.url], { GANTRY_NATS_CREDS: creds });
      expect(viaEnv.stdout.trim()).toBe('env');
      const other = join(dir, 'other.nk');
      await gantry(['keys', 'generate', '--type', 'user', '--out', other]);
      const wrong = await gantry([
        'grant',
        'creds',
        'cli',
        '-n',
        NS,
        '--nkey',
        other,
        '-o',
        join(dir, 'x.creds'),
        '--kubeconfig',
        kc,
      ]).catch((e) => e);
      expect(wrong.stderr).toMatch(/but the grant is for/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function gantry(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), ...args], {
    env: { ...process.env, GANTRY_SANDBOX_DIR: '/nonexistent', ...env },
  });
}
