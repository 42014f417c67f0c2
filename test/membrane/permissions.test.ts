/**
 * The permission documents of membrane/permissions.ts, enforced by a real nats-server in
 * operator mode, one identity against another and nothing else running (no hosts, no
 * controller): for each identity, everything its rules allow works end to end — a message
 * really arrives, a request really gets its answer — and the nearest things they do not allow
 * are refused with a permissions violation. membrane.test.ts proves the same rules with real
 * hosts and `gantry call`; this file is fast enough to run against every mutant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors as natsErrors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../client/nats.js';
import { capabilityActivationSubject, providerActivationSubject } from '../../client/activation.js';
import { loadSubject } from '../../client/load.js';
import { capabilitySubject, instanceSubject, providerSubject } from '../../client/protocol.js';
import {
  adminPermissions,
  CONTROLLER_ACTIVATION_QUEUE,
  controllerBusPermissions,
  granteePermissions,
  hostPermissions,
  type GrantTarget,
  type HostIdentity,
  type UserPermissions,
} from '../../membrane/permissions.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';

const NS = 'perm';
let nats: MembraneNats;
const conns: NatsConnection[] = [];

async function identity(name: string, perms: (key: string) => UserPermissions): Promise<{ nc: NatsConnection; key: string }> {
  const u = nats.authority.mintUser(name, perms);
  const nc = await connectNats({ servers: nats.url, credsFile: nats.writeCreds(name, u.creds!), connectTimeoutMs: 5000 });
  conns.push(nc);
  return { nc, key: u.userKey };
}
const host = (h: Omit<HostIdentity, 'namespace'>) => identity(`host-${h.instance}`, (k) => hostPermissions(k, { namespace: NS, ...h }));
const grantee = (target: GrantTarget, ops: string[]) => identity('grantee', (k) => granteePermissions(k, NS, target, ops));
const controllerBus = () => identity('controller-bus', controllerBusPermissions);

/** The first message `sub` gets on `subject` (in `queue`) once `publish` has run; a violation rejects. */
async function delivered(sub: NatsConnection, subject: string, publish: () => void | Promise<unknown>, queue?: string): Promise<Msg> {
  return new Promise<Msg>((resolve, reject) => {
    const s = sub.subscribe(subject, { queue, max: 1, callback: (err, m) => (err ? reject(err) : resolve(m)) });
    void sub.flush().then(publish).catch(reject);
    void s.closed.catch(reject);
  });
}

/**
 * Fails when `p` has not settled shortly after the server has answered a PING sent after the
 * action: nats-server answers a SUB or PUB it refuses with -ERR before that PONG, so a refusal
 * that has not come by then is not coming (the grace covers the client's dispatch only).
 */
async function refusedBy(nc: NatsConnection, p: Promise<unknown>, what: string): Promise<unknown> {
  await nc.flush();
  let timer: NodeJS.Timeout | undefined;
  const notRefused = new Promise((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was not refused`)), 1000);
  });
  try {
    return await Promise.race([p, notRefused]);
  } finally {
    clearTimeout(timer);
  }
}

/** The permissions violation a subscription gets. */
function subscribeRefused(nc: NatsConnection, subject: string, queue?: string): Promise<unknown> {
  const refused = new Promise((resolve, reject) => {
    nc.subscribe(subject, { queue, callback: (err) => (err ? resolve(err) : reject(new Error(`received a message on ${subject}`))) });
  });
  return refusedBy(nc, refused, `subscribing to ${subject}${queue ? ` in ${queue}` : ''}`);
}

/** The permissions violation a publish gets (reported on the connection's status). */
function publishRefused(nc: NatsConnection, subject: string): Promise<unknown> {
  const violation = (async () => {
    for await (const s of nc.status()) if (s.type === 'error' && s.error instanceof natsErrors.PermissionViolationError) return s.error;
    throw new Error('connection closed without a permissions violation');
  })();
  nc.publish(subject, 'x');
  return refusedBy(nc, violation, `publishing to ${subject}`);
}
const violation = expect.any(natsErrors.PermissionViolationError);

/**
 * The admin identity, made by the first test that needs it rather than in beforeAll: a hook
 * that throws only skips the file's tests, which Stryker then counts as a surviving mutant
 * (an admin rule broken so that nats-server refuses the connection went unnoticed that way).
 */
let adminP: Promise<{ nc: NatsConnection; key: string }> | undefined;
const theAdmin = () => (adminP ??= identity('admin', adminPermissions));

beforeAll(async () => {
  nats = await startMembraneNats();
});
afterAll(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => {})));
  await nats?.stop();
});

describe('a host', () => {
  it("gets calls on its Provider's subject in its queue group, on its instance's subject, and on its capability's in that queue group, and answers each once", async () => {
    const admin = await theAdmin();
    const h = await host({ provider: 'echo', instance: 'echo-0', capid: 'acme:echo' });
    const prov = providerSubject(NS, 'echo');
    const cap = capabilitySubject(NS, 'acme:echo');
    for (const [subject, queue] of [
      [`${prov}.Op.caller`, prov],
      [`${instanceSubject(NS, 'echo', 'echo-0')}.Op.caller`, undefined],
      [`${cap}.Op.caller`, cap],
    ] as const) {
      const sub = h.nc.subscribe(subject.replace(/Op\.caller$/, '*.*'), { queue, max: 1, callback: (_e, m) => void m.respond('answer') });
      await h.nc.flush();
      const reply = await admin.nc.request(subject, 'call', { timeout: 5000 });
      expect(reply.string()).toBe('answer');
      await sub.closed;
    }
  });

  it('with a link name serves that link of its capability, not the default one', async () => {
    const admin = await theAdmin();
    const h = await host({ provider: 'echo', instance: 'echo-1', capid: 'acme:echo', linkName: 'blue' });
    const blue = capabilitySubject(NS, 'acme:echo', 'blue');
    const m = await delivered(h.nc, `${blue}.*.*`, () => admin.nc.publish(`${blue}.Op.caller`, 'x'), blue);
    expect(m.subject).toBe(`${blue}.Op.caller`);
    const dflt = capabilitySubject(NS, 'acme:echo');
    expect(await subscribeRefused(h.nc, `${dflt}.*.*`, dflt)).toEqual(violation);
  });

  it('without a capability id serves no capability subject', async () => {
    const h = await host({ provider: 'echo', instance: 'echo-2' });
    const cap = capabilitySubject(NS, 'acme:echo');
    expect(await subscribeRefused(h.nc, `${cap}.*.*`, cap)).toEqual(violation);
  });

  it('dispatches to an actor of its own Provider and gets the answer in its own inbox', async () => {
    const h = await host({ provider: 'echo', instance: 'echo-3', capid: 'acme:echo' });
    const g = await grantee({ provider: 'echo' }, ['Get']);
    const dispatch = `gantry.${NS}.actor.${g.key}.echo`;
    g.nc.subscribe(dispatch, { max: 1, callback: (_e, m) => void m.respond('from the actor') });
    await g.nc.flush();
    expect((await h.nc.request(dispatch, 'event', { timeout: 5000 })).string()).toBe('from the actor');
  });

  it("is refused: another instance's or Provider's subjects, its Provider's outside the queue group, calls, dispatches for another Provider, others' inboxes", async () => {
    const admin = await theAdmin();
    const h = await host({ provider: 'echo', instance: 'echo-4', capid: 'acme:echo' });
    const prov = providerSubject(NS, 'echo');
    expect(await subscribeRefused(h.nc, `${instanceSubject(NS, 'echo', 'echo-0')}.*.*`)).toEqual(violation);
    expect(await subscribeRefused(h.nc, `${providerSubject(NS, 'kv')}.*.*`, providerSubject(NS, 'kv'))).toEqual(violation);
    expect(await subscribeRefused(h.nc, `${prov}.*.*`)).toEqual(violation);
    expect(await subscribeRefused(h.nc, `_INBOX.${admin.key}.>`)).toEqual(violation);
    expect(await publishRefused(h.nc, `${prov}.Get.${h.key}`)).toEqual(violation);
    expect(await publishRefused(h.nc, `gantry.${NS}.actor.someone.kv`)).toEqual(violation);
  });
});

describe('a grantee', () => {
  it("of a Provider calls the granted operations, on the Provider's and its instances' subjects, with its own key as caller", async () => {
    const h = await host({ provider: 'kv', instance: 'kv-0' });
    const g = await grantee({ provider: 'kv' }, ['Get', 'Get', 'a.b']);
    const prov = providerSubject(NS, 'kv');
    const inst = instanceSubject(NS, 'kv', 'kv-0');
    for (const [subject, listen, queue] of [
      [`${prov}.Get.${g.key}`, `${prov}.*.*`, prov],
      [`${inst}.Get.${g.key}`, `${inst}.*.*`, undefined],
      [`${prov}.a%2Eb.${g.key}`, `${prov}.*.*`, prov],
    ] as const) {
      const m = await delivered(h.nc, listen, () => g.nc.publish(subject, 'x'), queue);
      expect(m.subject).toBe(subject);
    }
  });

  it('of a Provider is refused: another operation, another caller key, another Provider, a capability subject, dispatches from another Provider', async () => {
    const admin = await theAdmin();
    const g = await grantee({ provider: 'kv' }, ['Get']);
    const prov = providerSubject(NS, 'kv');
    expect(await publishRefused(g.nc, `${prov}.Set.${g.key}`)).toEqual(violation);
    expect(await publishRefused(g.nc, `${prov}.Get.${admin.key}`)).toEqual(violation);
    expect(await publishRefused(g.nc, `${providerSubject(NS, 'echo')}.Get.${g.key}`)).toEqual(violation);
    expect(await publishRefused(g.nc, `${capabilitySubject(NS, 'acme:kv')}.Get.${g.key}`)).toEqual(violation);
    expect(await subscribeRefused(g.nc, `gantry.${NS}.actor.${g.key}.echo`)).toEqual(violation);
    expect(await subscribeRefused(g.nc, `_INBOX.${admin.key}.>`)).toEqual(violation);
  });

  it("of 60 operations connects and calls the last one: its JWT is far over nats-server's default 4 KB control line", async () => {
    const ops = Array.from({ length: 60 }, (_, i) => `OperationNumber${i}`);
    const h = await host({ provider: 'kv', instance: 'kv-many' });
    const g = await grantee({ provider: 'kv' }, ops);
    const inst = instanceSubject(NS, 'kv', 'kv-many');
    const m = await delivered(h.nc, `${inst}.*.*`, () => g.nc.publish(`${inst}.OperationNumber59.${g.key}`, 'x'));
    expect(m.subject).toBe(`${inst}.OperationNumber59.${g.key}`);
  });

  it("with '*' calls every operation of the Provider", async () => {
    const h = await host({ provider: 'kv', instance: 'kv-1' });
    const g = await grantee({ provider: 'kv' }, ['Get', '*']);
    const prov = providerSubject(NS, 'kv');
    const m = await delivered(h.nc, `${prov}.*.*`, () => g.nc.publish(`${prov}.Set.${g.key}`, 'x'), prov);
    expect(m.subject).toBe(`${prov}.Set.${g.key}`);
  });

  it('of a capability calls it on the granted link, and takes dispatches from whichever Provider serves it', async () => {
    const h = await host({ provider: 'kv', instance: 'kv-2', capid: 'acme:kv', linkName: 'blue' });
    const g = await grantee({ capabilityId: 'acme:kv', linkName: 'blue' }, ['Get']);
    const blue = capabilitySubject(NS, 'acme:kv', 'blue');
    const m = await delivered(h.nc, `${blue}.*.*`, () => g.nc.publish(`${blue}.Get.${g.key}`, 'x'), blue);
    expect(m.subject).toBe(`${blue}.Get.${g.key}`);
    expect(await publishRefused(g.nc, `${capabilitySubject(NS, 'acme:kv')}.Get.${g.key}`)).toEqual(violation);
    expect(await publishRefused(g.nc, `${providerSubject(NS, 'kv')}.Get.${g.key}`)).toEqual(violation);
    const d = await delivered(g.nc, `gantry.${NS}.actor.${g.key}.kv`, () => h.nc.publish(`gantry.${NS}.actor.${g.key}.kv`, 'event'));
    expect(d.string()).toBe('event');
  });

  it('of a capability without a link name uses the default link', async () => {
    const h = await host({ provider: 'kv', instance: 'kv-3', capid: 'acme:kv' });
    const g = await grantee({ capabilityId: 'acme:kv' }, ['Get']);
    const cap = capabilitySubject(NS, 'acme:kv');
    const m = await delivered(h.nc, `${cap}.*.*`, () => g.nc.publish(`${cap}.Get.${g.key}`, 'x'), cap);
    expect(m.subject).toBe(`${cap}.Get.${g.key}`);
  });
});

describe('load reports and activation (autoscaling)', () => {
  it("a host publishes only its own instance's load reports, and only the controller's bus user reads them", async () => {
    const h = await host({ provider: 'echo', instance: 'echo-5', capid: 'acme:echo' });
    const c = await controllerBus();
    const own = loadSubject(NS, 'echo', 'echo-5');
    const m = await delivered(c.nc, 'gantry.*.load.*.*', () => h.nc.publish(own, 'report'));
    expect(m.subject).toBe(own);
    expect(await publishRefused(h.nc, loadSubject(NS, 'echo', 'echo-0'))).toEqual(violation);
    expect(await publishRefused(h.nc, loadSubject(NS, 'kv', 'echo-5'))).toEqual(violation);
    const g = await grantee({ provider: 'echo' }, ['*']);
    expect(await subscribeRefused(g.nc, 'gantry.*.load.*.*')).toEqual(violation);
    expect(await subscribeRefused(h.nc, 'gantry.*.load.*.*')).toEqual(violation);
  });

  it('a grantee asks to activate its granted Provider or capability with its own key, and the controller answers in its queue group', async () => {
    const c = await controllerBus();
    c.nc.subscribe('gantry.*.activate.>', { queue: CONTROLLER_ACTIVATION_QUEUE, callback: (_e, m) => void m.respond('Ready') });
    await c.nc.flush();
    const g = await grantee({ provider: 'kv' }, ['Get']);
    expect((await g.nc.request(providerActivationSubject(NS, 'kv', g.key), '', { timeout: 5000 })).string()).toBe('Ready');
    const gc = await grantee({ capabilityId: 'acme:kv', linkName: 'blue' }, ['Get']);
    const capSubject = capabilityActivationSubject(NS, 'acme:kv', 'blue', gc.key);
    expect((await gc.nc.request(capSubject, '', { timeout: 5000 })).string()).toBe('Ready');
  });

  it('activation is refused to a caller without a grant for the target, or under another key; the controller may publish nothing but replies', async () => {
    const admin = await theAdmin();
    const g = await grantee({ provider: 'kv' }, ['Get']);
    expect(await publishRefused(g.nc, providerActivationSubject(NS, 'echo', g.key))).toEqual(violation);
    expect(await publishRefused(g.nc, providerActivationSubject(NS, 'kv', admin.key))).toEqual(violation);
    expect(await publishRefused(g.nc, capabilityActivationSubject(NS, 'acme:kv', undefined, g.key))).toEqual(violation);
    const c = await controllerBus();
    expect(await publishRefused(c.nc, `${providerSubject(NS, 'kv')}.Get.${c.key}`)).toEqual(violation);
    expect(await publishRefused(c.nc, providerActivationSubject(NS, 'kv', c.key))).toEqual(violation);
    expect(await subscribeRefused(c.nc, 'gantry.*.activate.>')).toEqual(violation);
    expect(await subscribeRefused(c.nc, `${providerSubject(NS, 'kv')}.*.*`, providerSubject(NS, 'kv'))).toEqual(violation);
  });
});

describe('the admin', () => {
  it('may call anything under gantry. as any caller, but reads only its own inbox', async () => {
    const admin = await theAdmin();
    expect(await subscribeRefused(admin.nc, '_INBOX.>')).toEqual(violation);
    expect(await subscribeRefused(admin.nc, 'gantry.>')).toEqual(violation);
    expect(await publishRefused(admin.nc, 'elsewhere.subject')).toEqual(violation);
  });
});

describe('the system user', () => {
  it('pushes the account JWT (both update subjects) and looks it up, and may do nothing else', async () => {
    const u = nats.authority.mintSystemUser('sys-test');
    const nc = await connectNats({ servers: nats.url, credsFile: nats.writeCreds('sys-test', u.creds!), connectTimeoutMs: 5000 });
    conns.push(nc);
    const jwt = nats.authority.accountJwt();
    const key = nats.authority.accountKey;
    for (const subject of ['$SYS.REQ.CLAIMS.UPDATE', `$SYS.REQ.ACCOUNT.${key}.CLAIMS.UPDATE`]) {
      const reply = JSON.parse((await nc.request(subject, jwt, { timeout: 5000 })).string()) as {
        data?: { code?: number };
        error?: unknown;
      };
      expect(reply.error).toBeUndefined();
      expect(reply.data?.code).toBe(200);
    }
    expect((await nc.request(`$SYS.REQ.ACCOUNT.${key}.CLAIMS.LOOKUP`, '', { timeout: 5000 })).string().trim()).toBe(jwt);
    expect(await publishRefused(nc, '$SYS.REQ.SERVER.PING')).toEqual(violation);
    expect(await subscribeRefused(nc, '$SYS.>')).toEqual(violation);
  });
});

describe('a user JWT without permissions', () => {
  // issue 29: the account's default permissions were empty, so a user the account key signed
  // with no permissions of its own (a forgotten field, a tool's default) could publish and
  // subscribe anywhere; now the account's defaults deny everything
  it('may neither subscribe nor publish anywhere: the account denies by default', async () => {
    const { nc } = await identity('no-permissions', () => ({ pub: {}, sub: {} }));
    expect(await subscribeRefused(nc, 'gantry.>')).toEqual(violation);
    expect(await subscribeRefused(nc, '_INBOX.>')).toEqual(violation);
    expect(await subscribeRefused(nc, '>')).toEqual(violation);
    expect(await publishRefused(nc, providerSubject(NS, 'echo'))).toEqual(violation);
  });
});
