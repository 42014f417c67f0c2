/**
 * The membrane against a real nats-server 2.9 in operator mode with the full resolver, hosts
 * running the compiled example providers: every identity is a user JWT minted by the
 * authority, and nats-server refuses what it does not allow. Each attack below must fail with
 * its own code (FORBIDDEN, NATS_AUTH_FAILED, a permissions violation), never a timeout.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createUser } from '@nats-io/nkeys';
import { errors as natsErrors, headers, type NatsConnection } from '@nats-io/transport-node';
import { callProvider, CallError } from '../../client/call.js';
import { connectError, connectNats } from '../../client/nats.js';
import { actorSubject, callSubjectFor, instanceSubject, providerSubject } from '../../client/protocol.js';
import { encodeJwt } from '../../client/jwt.js';
import { formatCreds, parseCreds } from '../../client/creds.js';
import { granteePermissions, hostPermissions, type GrantTarget } from '../../membrane/permissions.js';
import { packageRoot } from '../../runtime/paths.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';
import { NS, buildProviders, callError, makeHost, providerLib, stopAllHosts, text } from '../host/helpers.js';

const run = promisify(execFile);
let nats: MembraneNats;
let admin: NatsConnection;
const conns: NatsConnection[] = [];

async function conn(credsFile: string): Promise<NatsConnection> {
  const nc = await connectNats({ servers: nats.url, credsFile, connectTimeoutMs: 5000 });
  conns.push(nc);
  return nc;
}

/** A grantee: a user key of its own (as `gantry keys generate --type user` makes) and a grant's JWT for it. */
function grantee(target: GrantTarget, operations: string[], exp?: number): { creds: string; key: string; seed: string } {
  const kp = createUser();
  const key = kp.getPublicKey();
  const seed = new TextDecoder().decode(kp.getSeed());
  const { jwt } = nats.authority.mintUser(`grant-${key.slice(0, 8)}`, (k) => granteePermissions(k, NS, target, operations), {
    userKey: key,
    exp,
  });
  return { creds: nats.writeCreds('grantee', formatCreds(jwt, seed)), key, seed };
}

function hostNats(provider: string, instance: string, capid: string) {
  return { servers: nats.url, credsFile: nats.hostCreds({ namespace: NS, provider, instance, capid }) };
}

/** The permissions violation a subscription gets (the test fails if it gets none in time). */
function subscribeRefused(nc: NatsConnection, subject: string, queue?: string): Promise<Error> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`subscribing to ${subject} was not refused`)), 5000);
    nc.subscribe(subject, {
      queue,
      callback: (err) => {
        if (err) {
          clearTimeout(t);
          resolve(err);
        } else reject(new Error(`received a message on ${subject}`));
      },
    });
    void nc.flush();
  });
}

/** The next permissions violation a connection reports (a plain publish has no request to fail). */
function nextViolation(nc: NatsConnection): Promise<Error> {
  return (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error instanceof natsErrors.PermissionViolationError) return s.error;
    }
    throw new Error('connection closed without a permissions violation');
  })();
}

beforeAll(async () => {
  buildProviders();
  nats = await startMembraneNats();
  admin = await conn(nats.adminCreds);
  await makeHost(nats.url, {
    provider: 'kv',
    instance: 'kv-0',
    libraryPath: providerLib('keyvalue'),
    expectedCapid: 'wascap:keyvalue',
    nats: hostNats('kv', 'kv-0', 'wascap:keyvalue'),
  }).start();
  await makeHost(nats.url, {
    provider: 'echo',
    instance: 'echo-0',
    expectedCapid: 'gantry:echo',
    nats: hostNats('echo', 'echo-0', 'gantry:echo'),
  }).start();
  await makeHost(nats.url, {
    provider: 'echo',
    instance: 'echo-1',
    expectedCapid: 'gantry:echo',
    nats: hostNats('echo', 'echo-1', 'gantry:echo'),
  }).start();
}, 60_000);

afterAll(async () => {
  await stopAllHosts();
  await Promise.all(conns.map((c) => c.close().catch(() => {})));
  await nats?.stop();
});

describe('who may connect', () => {
  it('refuses anonymous connections and users of an account the operator did not sign', async () => {
    const anon = await connectNats({ servers: nats.url, connectTimeoutMs: 5000 }).catch((e) => e);
    expect(connectError(anon, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
    const rogueAccount = createAccount();
    const u = createUser();
    const jwt = encodeJwt(rogueAccount, { sub: u.getPublicKey(), nats: { type: 'user', pub: { allow: ['gantry.>'] }, sub: {} } });
    const rogue = nats.writeCreds('rogue', formatCreds(jwt, new TextDecoder().decode(u.getSeed())));
    const refused = await connectNats({ servers: nats.url, credsFile: rogue, connectTimeoutMs: 5000 }).catch((e) => e);
    expect(connectError(refused, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
  });

  it('`gantry call` with a key that holds no grant fails FORBIDDEN, not a timeout', async () => {
    const u = createUser();
    const selfSigned = encodeJwt(createAccount(), { sub: u.getPublicKey(), nats: { type: 'user', pub: {}, sub: {} } });
    const creds = nats.writeCreds('nogrant', formatCreds(selfSigned, new TextDecoder().decode(u.getSeed())));
    const r = await run(process.execPath, [
      join(packageRoot(), 'bin', 'gantry.js'),
      'call',
      '-n',
      NS,
      'kv',
      'Get',
      '--data',
      '{"key":"a"}',
      '--nats',
      nats.url,
      '--creds',
      creds,
      '--json',
    ]).catch((e) => e as { stdout: string; stderr: string; code?: number });
    expect((r as { code?: number }).code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'FORBIDDEN' });
  });
});

describe('grants', () => {
  it('a grant for keyvalue Get allows Get and refuses Set with FORBIDDEN', async () => {
    await callProvider(admin, { namespace: NS, provider: 'kv', op: 'Set', data: '{"key":"a","value":1}' });
    const g = grantee({ provider: 'kv' }, ['Get']);
    const nc = await conn(g.creds);
    const got = await callProvider(nc, { namespace: NS, provider: 'kv', op: 'Get', data: '{"key":"a"}' });
    expect(JSON.parse(text(got.reply))).toEqual({ value: 1 });
    // by instance too: the grant covers the Provider's instances
    expect((await callProvider(nc, { namespace: NS, provider: 'kv', instance: 'kv-0', op: 'Get', data: '{"key":"a"}' })).instance).toBe(
      'kv-0',
    );
    const set = await callError(
      callProvider(nc, { namespace: NS, provider: 'kv', op: 'Set', data: '{"key":"a","value":2}', timeoutMs: 5000 }),
    );
    expect(set.code).toBe('FORBIDDEN');
    const other = await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'x', timeoutMs: 5000 }));
    expect(other.code).toBe('FORBIDDEN');
    // the value is untouched
    expect(JSON.parse(text((await callProvider(admin, { namespace: NS, provider: 'kv', op: 'Get', data: '{"key":"a"}' })).reply))).toEqual({
      value: 1,
    });
  });

  it("the provider sees the grantee's key as actor; another key or a Gantry-Actor header cannot be used", async () => {
    const g = grantee({ provider: 'echo' }, ['*']);
    const nc = await conn(g.creds);
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami' })).reply)).toBe(g.key);
    const victim = createUser().getPublicKey();
    const spoof = await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Whoami', caller: victim, timeoutMs: 5000 }));
    expect(spoof.code).toBe('FORBIDDEN');
    const h = headers();
    h.set('Gantry-Actor', victim);
    const m = await nc.request(callSubjectFor(providerSubject(NS, 'echo'), 'Whoami', g.key), new Uint8Array(0), {
      headers: h,
      timeout: 5000,
    });
    expect(text(m.data)).toBe(g.key);
  });

  it('a capability-id grant reaches the capability subject only', async () => {
    const g = grantee({ capabilityId: 'gantry:echo' }, ['Echo']);
    const nc = await conn(g.creds);
    expect(text((await callProvider(nc, { namespace: NS, capid: 'gantry:echo', op: 'Echo', data: 'cap' })).reply)).toBe('cap');
    expect((await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'x', timeoutMs: 5000 }))).code).toBe(
      'FORBIDDEN',
    );
  });

  it('an expired grant is refused within 2 s, on a new connection and on the one it had', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const g = grantee({ provider: 'echo' }, ['Echo'], exp);
    const nc = await conn(g.creds);
    const closed = nc.closed();
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'before' })).reply)).toBe('before');
    while (Date.now() < exp * 1000) await new Promise((r) => setTimeout(r, 50));
    const fresh = await refusedWithin(g.creds, 2000, exp * 1000);
    // The server closes the held connection at expiry; the client gives up once it is refused again.
    const why = await Promise.race([
      closed.then((e) => `closed (${String(e)})`),
      new Promise((r) => setTimeout(() => r('still open'), 2000)),
    ]);
    expect(why).toMatch(/^closed/);
    const heldAfter = Date.now() - exp * 1000;
    const held = await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'after', timeoutMs: 2000 }));
    expect(held.code).toBe('FORBIDDEN');
    console.log(
      `expired grant: a new connection refused ${fresh} ms after expiry, the held one closed within ${heldAfter} ms (${String(why)})`,
    );
  });

  it('a revoked grant is refused within 2 s of the account push, on a new connection and on the one it had', async () => {
    const g = grantee({ provider: 'echo' }, ['Echo']);
    const nc = await conn(g.creds);
    const closed = nc.closed();
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'before' })).reply)).toBe('before');
    const t0 = Date.now();
    nats.authority.revoke(g.key);
    await nats.authority.pushAccount(nats.url);
    const fresh = await refusedWithin(g.creds, 2000, t0);
    const why = await closed;
    expect(String(why)).toMatch(/revoked|authorization/i);
    const held = await callError(callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'after', timeoutMs: 2000 }));
    expect(held.code).toBe('FORBIDDEN');
    console.log(
      `revoked grant: a new connection refused ${fresh} ms after revoke() (push included); the held connection closed: ${String(why)}`,
    );
    // A grant issued again for the same key after the revocation works.
    const again = nats.authority.mintUser('grant-again', (k) => granteePermissions(k, NS, { provider: 'echo' }, ['Echo']), {
      userKey: g.key,
    });
    const nc2 = await conn(nats.writeCreds('again', formatCreds(again.jwt, g.seed)));
    expect(text((await callProvider(nc2, { namespace: NS, provider: 'echo', op: 'Echo', data: 'again' })).reply)).toBe('again');
  });
});

/** Poll with fresh connections + calls until one is refused; returns ms since `since`. Fails past `boundMs`. */
async function refusedWithin(creds: string, boundMs: number, since = Date.now()): Promise<number> {
  for (;;) {
    const nc = await connectNats({ servers: nats.url, credsFile: creds, connectTimeoutMs: 2000 }).catch((e) => e as Error);
    if (nc instanceof Error) {
      expect(connectError(nc, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
      return Date.now() - since;
    }
    const r = await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'x', timeoutMs: 1000 }).catch((e) => e);
    await nc.close().catch(() => {});
    if (r instanceof CallError && r.code === 'FORBIDDEN') return Date.now() - since;
    if (Date.now() - since > boundMs) throw new Error(`still served ${Date.now() - since} ms later`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('what a granted caller cannot do', () => {
  let nc: NatsConnection;
  let g: { key: string };
  beforeAll(async () => {
    const gg = grantee({ provider: 'kv' }, ['*']);
    g = gg;
    nc = await conn(gg.creds);
  });

  it('cannot subscribe to gantry.> or to a provider subject, nor to dispatches from a provider it did not grant', async () => {
    expect(await subscribeRefused(nc, 'gantry.>')).toBeInstanceOf(natsErrors.PermissionViolationError);
    expect(await subscribeRefused(nc, actorSubject(NS, g.key, 'echo'))).toBeInstanceOf(natsErrors.PermissionViolationError);
    expect(await subscribeRefused(nc, `${providerSubject(NS, 'kv')}.*.*`)).toBeInstanceOf(natsErrors.PermissionViolationError);
  });

  it("cannot join a provider's queue group (so it cannot answer callers with a forged reply)", async () => {
    const base = providerSubject(NS, 'kv');
    expect(await subscribeRefused(nc, `${base}.*.*`, base)).toBeInstanceOf(natsErrors.PermissionViolationError);
    // every call is still served by the real instance
    for (let i = 0; i < 10; i++) expect((await callProvider(admin, { namespace: NS, provider: 'kv', op: 'Keys' })).instance).toBe('kv-0');
  });

  it("cannot have a host answer into another identity's inbox (a reflected reply): the request is dropped", async () => {
    // issue 29: a request whose reply subject is _INBOX.<victim>.… was answered there by a
    // genuine instance; under the membrane a host now answers only below its caller's inbox
    const adminKey = parseCreds(await import('node:fs').then((fs) => fs.readFileSync(nats.adminCreds, 'utf8'))).userKey;
    const g = grantee({ provider: 'echo' }, ['*']);
    const gc = await conn(g.creds);
    const inbox = `_INBOX.${adminKey}.reflected`;
    const got: string[] = [];
    admin.subscribe(inbox, {
      callback: (_e, m) => {
        got.push(text(m.data));
      },
    });
    await admin.flush();
    const instance = callSubjectFor(instanceSubject(NS, 'echo', 'echo-0'), 'Echo', g.key);
    gc.publish(instance, 'reflected', { reply: inbox });
    // the same instance answers its caller's own request after it: the reflected one came first
    // and went unanswered (a host handles one subscription's requests in order)
    const ok = await gc.request(instance, 'own', { timeout: 5000 });
    expect(text(ok.data)).toBe('own');
    await admin.flush();
    expect(got).toEqual([]);
  });

  it("cannot read another identity's inbox nor publish to another request's reply subject", async () => {
    const adminKey = parseCreds(await import('node:fs').then((fs) => fs.readFileSync(nats.adminCreds, 'utf8'))).userKey;
    expect(await subscribeRefused(nc, `_INBOX.${adminKey}.>`)).toBeInstanceOf(natsErrors.PermissionViolationError);
    expect(await subscribeRefused(nc, '_INBOX.>')).toBeInstanceOf(natsErrors.PermissionViolationError);
    // A reply subject the admin is waiting on: a forged answer never arrives there.
    const inbox = `_INBOX.${adminKey}.forged`;
    const got: string[] = [];
    admin.subscribe(inbox, {
      callback: (_e, m) => {
        got.push(text(m.data));
      },
    });
    await admin.flush();
    const violation = nextViolation(nc);
    nc.publish(inbox, 'forged reply');
    expect(await violation).toBeInstanceOf(natsErrors.PermissionViolationError);
    await admin.flush();
    expect(got).toEqual([]);
  });
});

describe('what a host cannot do', () => {
  let hc: NatsConnection;
  beforeAll(async () => {
    hc = await conn(nats.hostCreds({ namespace: NS, provider: 'echo', instance: 'echo-0', capid: 'gantry:echo' }));
  });

  it("cannot subscribe to another instance's or another provider's subjects, nor outside its queue group", async () => {
    expect(await subscribeRefused(hc, `gantry.${NS}.instance.echo.echo-1.*.*`)).toBeInstanceOf(natsErrors.PermissionViolationError);
    expect(await subscribeRefused(hc, `${providerSubject(NS, 'kv')}.*.*`, providerSubject(NS, 'kv'))).toBeInstanceOf(
      natsErrors.PermissionViolationError,
    );
    expect(await subscribeRefused(hc, `${providerSubject(NS, 'echo')}.*.*`)).toBeInstanceOf(natsErrors.PermissionViolationError);
    expect(await subscribeRefused(hc, 'gantry.>')).toBeInstanceOf(natsErrors.PermissionViolationError);
  });

  it('cannot call providers, and dispatches only for its own provider', async () => {
    expect((await callError(callProvider(hc, { namespace: NS, provider: 'kv', op: 'Keys', timeoutMs: 5000 }))).code).toBe('FORBIDDEN');
    const violation = nextViolation(hc);
    hc.publish(`gantry.${NS}.actor.someone.kv`, 'not mine');
    expect(await violation).toBeInstanceOf(natsErrors.PermissionViolationError);
  });
});

it("host permissions name exactly the instance's subjects", () => {
  const p = hostPermissions('UKEY', { namespace: 'ns', provider: 'p', instance: 'p-0', capid: 'acme:kv.v2' });
  expect(p.sub.allow).toEqual([
    'gantry.ns.provider.p.*.* gantry.ns.provider.p',
    'gantry.ns.instance.p.p-0.*.*',
    'gantry.ns.cap.acme:kv%2Ev2.default.*.* gantry.ns.cap.acme:kv%2Ev2.default',
    '_INBOX.UKEY.>',
  ]);
  expect(p.pub.allow).toEqual(['gantry.ns.actor.*.p', 'gantry.ns.load.p.p-0']);
});
