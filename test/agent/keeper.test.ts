/**
 * The host keeper and its client in this process (agent/keeper/), with real provider hosts
 * (compiled echo) on a real nats-server: what decides adoption (same uid and same spec digest),
 * what a host's events become on the agent's side, the orphan grace, the takeover by a newer
 * agent, and each refusal with its code. keeper-adoption.test.ts runs the same as processes
 * under load; this file pins the rules one at a time.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as connectSocket, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HostSpec } from '../../agent/host/spec.js';
import { KeeperClient } from '../../agent/keeper/client.js';
import { PROTOCOL_VERSION } from '../../agent/keeper/protocol.js';
import { HostKeeper } from '../../agent/keeper/server.js';
import { MAX_LINE_BYTES, readLines, specDigest, writeLine } from '../../agent/keeper/wire.js';
import { logger } from '../../runtime/log.js';
import { processesMarked } from '../../runtime/marked-processes.js';
import { HOST_RECORDS_ENV } from '../../agent/host-records.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { buildProviders, providerLib } from '../host/helpers.js';
import { until as waitUntil } from '../support/until.js';

let nats: NatsServer;
let dir: string;
const log = logger('keeper-test');
const keepers: HostKeeper[] = [];
const clients: KeeperClient[] = [];

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function spec(instance: string, config?: Record<string, unknown>): HostSpec {
  return {
    libraryPath: providerLib('echo'),
    librarySha256: sha256(readFileSync(providerLib('echo'))),
    expectedCapid: 'gantry:echo',
    namespace: 'keeper-test',
    provider: 'echo',
    instance,
    nats: { servers: nats.url },
    ...(config ? { config } : {}),
  };
}

let n = 0;
/** A keeper on a socket of its own; `o` overrides the test defaults (no pool, no orphan grace), `{}` keeps the keeper's own. */
async function keeper(
  orphanGraceMs = 0,
  o: { orphanGraceMs?: number; hostPoolSize?: number } = { orphanGraceMs, hostPoolSize: 0 },
): Promise<{ k: HostKeeper; socket: string }> {
  const socket = join(dir, `k${++n}`, 'keeper.sock');
  const k = new HostKeeper({ socketPath: socket, node: 'n1', ...o });
  keepers.push(k);
  await k.listen();
  return { k, socket };
}

async function client(socket: string): Promise<KeeperClient> {
  const c = await KeeperClient.connect(socket, 'n1', log, 0);
  clients.push(c);
  return c;
}

const alive = (pid: number | undefined) => {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

const until = (what: string, ok: () => boolean | Promise<boolean>, ms = 15_000) => waitUntil(what, ok, ms);

/** Raw lines to a keeper socket; resolves with the replies once `expect` lines came (or the socket closed). */
function raw(socket: string, lines: string[], expectLines = lines.length): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connectSocket(socket);
    let got = '';
    s.setEncoding('utf8');
    const done = () => got.split('\n').filter(Boolean);
    s.on('data', (d) => {
      got += d;
      if (done().length >= expectLines) s.end();
    });
    s.on('close', () => resolve(done()));
    s.on('error', reject);
    s.on('connect', () => s.write(lines.join('')));
  });
}

beforeAll(async () => {
  buildProviders();
  nats = await startNats();
  dir = mkdtempSync(join(tmpdir(), 'gantry-keeper-unit-'));
}, 60_000);

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(keepers.splice(0).map((k) => k.close()));
});

afterAll(async () => {
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the spec digest and the framing', () => {
  it('the digest ignores key order and undefined fields, and changes with any value', () => {
    const a = spec('d-0', { b: 1, a: [1, { y: 2, x: 1 }] });
    const reordered = { ...a, config: { a: [1, { x: 1, y: 2 }], b: 1 }, linkName: undefined };
    expect(specDigest(reordered as HostSpec)).toBe(specDigest(a));
    expect(specDigest(spec('d-0', { b: 2, a: [1, { y: 2, x: 1 }] }))).not.toBe(specDigest(a));
    expect(specDigest(spec('d-0', { b: 1, a: [{ y: 2, x: 1 }, 1] }))).not.toBe(specDigest(a));
    expect(specDigest(spec('d-1', { b: 1, a: [1, { y: 2, x: 1 }] }))).not.toBe(specDigest(a));
    expect(specDigest(a)).toMatch(/^[0-9a-f]{64}$/);
    // arrays are arrays: their items stay apart, and an array is not the object of its indices
    expect(specDigest(spec('d-0', { a: [1, 23] }))).not.toBe(specDigest(spec('d-0', { a: [12, 3] })));
    expect(specDigest(spec('d-0', { a: [1, 2] }))).not.toBe(specDigest(spec('d-0', { a: { 0: 1, 1: 2 } })));
  });

  it('reads lines split across chunks and skips blank ones; a bad line or an overlong one ends the connection with its reason', async () => {
    const path = join(dir, 'lines.sock');
    const seen: unknown[] = [];
    const bad: string[] = [];
    const server = createServer((s: Socket) =>
      readLines(
        s,
        (m) => seen.push(m),
        (why) => {
          bad.push(why);
          s.destroy();
        },
      ),
    );
    await new Promise<void>((r) => server.listen(path, () => r()));
    const send = (chunks: string[], gapMs = 10) =>
      new Promise<void>((resolve) => {
        const c = connectSocket(path, async () => {
          for (const ch of chunks) {
            c.write(ch);
            await new Promise((r) => setTimeout(r, gapMs));
          }
          c.end();
        });
        c.on('close', () => resolve());
        c.on('error', () => resolve());
      });
    await send(['{"a":', '1}\n\n  \n{"b":2}\n{"c"', ':3}\n']);
    await until('three messages', () => seen.length === 3);
    expect(seen).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    await send(['not json\n']);
    await until('the bad line', () => bad.length === 1);
    expect(bad[0]).toBe('not a JSON line: not json');
    await send([`${'y'.repeat(200)}\n`]); // the reason quotes the first 80 characters only
    await until('the long bad line', () => bad.length === 2);
    expect(bad[1]).toBe(`not a JSON line: ${'y'.repeat(80)}`);
    // a line of exactly the limit is read; one byte more ends the connection
    const atLimit = 'x'.repeat(MAX_LINE_BYTES - 2);
    await send([`"${atLimit}"`, '\n'], 300); // the newline apart: the limit is checked on a line without one
    await until('the line at the limit', () => seen.length === 4);
    expect(seen[3]).toBe(atLimit);
    await send(['x'.repeat(MAX_LINE_BYTES + 1)]);
    await until('the long line', () => bad.length === 3);
    expect(bad[2]).toBe(`a line longer than ${MAX_LINE_BYTES} bytes`);
    expect(seen).toHaveLength(4);
    server.close();
  });

  it('writes nothing to a socket that is ended or destroyed, and raises no error there', async () => {
    const path = join(dir, 'write.sock');
    const got: string[] = [];
    const server = createServer((s: Socket) => s.on('data', (d) => got.push(String(d))));
    await new Promise<void>((r) => server.listen(path, () => r()));
    const open = () =>
      new Promise<Socket>((r) => {
        const c = connectSocket(path, () => r(c));
      });
    const errors: string[] = [];
    const [ended, destroyed, fine] = await Promise.all([open(), open(), open()]);
    for (const c of [ended, destroyed, fine]) c.on('error', (e) => errors.push(e.message));
    ended.end();
    destroyed.destroy();
    writeLine(ended, { n: 1 });
    writeLine(destroyed, { n: 2 });
    writeLine(fine, { n: 3 });
    await until('the line on the open socket', () => got.join('').includes('\n'));
    await new Promise((r) => setTimeout(r, 100));
    expect([got.join(''), errors]).toEqual(['{"n":3}\n', []]);
    fine.destroy();
    server.close();
  });
});

describe('the host keeper', () => {
  it('makes its socket 0600 in a 0700 directory and lists what it runs', async () => {
    const { socket } = await keeper();
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(socket, '..')).mode & 0o777).toBe(0o700);
    const c = await client(socket);
    expect(c.found).toEqual([]);
  });

  it('a second agent with the same spec adopts the running host: same pid, no spawn, no restart, ready at once', async () => {
    const { k, socket } = await keeper();
    const first = await client(socket);
    const h1 = first.host('uid-a', spec('a-0'), {});
    const spawned: number[] = [];
    h1.on('spawned', (pid: number) => spawned.push(pid));
    await h1.start();
    expect(h1.adopted).toBe(false);
    expect(h1.pid).toBeGreaterThan(0);
    expect(spawned).toEqual([h1.pid]);
    first.detach();
    await h1.stop(); // detached: the host stays
    first.close();
    await new Promise((r) => setTimeout(r, 500)); // an orphan grace of 0 never stops them
    expect(alive(h1.pid)).toBe(true);

    const second = await client(socket);
    expect(second.found).toMatchObject([{ uid: 'uid-a', instance: 'a-0', state: 'ready', pid: h1.pid, restartCount: 0, healthy: true }]);
    expect(second.found[0].specDigest).toBe(specDigest(spec('a-0')));
    const h2 = second.host('uid-a', spec('a-0'), {});
    let ready = 0;
    h2.on('ready', () => ready++);
    h2.on('spawned', () => spawned.push(-1));
    await h2.start();
    expect(h2.adopted).toBe(true);
    expect(h2.pid).toBe(h1.pid);
    expect(h2.restartCount).toBe(0);
    expect(ready).toBe(1);
    expect(spawned).toHaveLength(1);
    expect(k.list()).toHaveLength(1);
  }, 30_000);

  it('a changed spec is a new host: the old process is stopped first', async () => {
    const { k, socket } = await keeper();
    const c = await client(socket);
    const old = c.host('uid-b', spec('b-0', { v: 1 }), {});
    await old.start();
    const oldPid = old.pid;
    const renewed = c.host('uid-b', spec('b-0', { v: 2 }), {});
    // the old host's 'stopped' is not the new host's: it must not reach it (it would come before
    // the start's reply: the keeper stops the old host before it forks the new one, on one socket)
    let stale = 0;
    renewed.on('stopped', () => stale++);
    await renewed.start();
    expect(stale).toBe(0);
    expect(renewed.adopted).toBe(false);
    expect(renewed.pid).not.toBe(oldPid);
    expect(alive(oldPid)).toBe(false);
    expect(k.list().map((h) => h.pid)).toEqual([renewed.pid]);
  }, 30_000);

  it("a crash reaches the agent's host as a crash and a restart it counts; stop() ends the process and forgets it", async () => {
    const { k, socket } = await keeper();
    const c = await client(socket);
    const h = c.host('uid-c', spec('c-0'), {});
    await h.start();
    const pid = h.pid!;
    const crashed = new Promise<{ restartCount: number; signal: string | null }>((r) => h.once('crash', r));
    const readyAgain = new Promise<void>((r) => h.once('ready', () => r()));
    process.kill(pid, 'SIGKILL');
    const crash = await crashed;
    expect(crash).toMatchObject({ restartCount: 1, signal: 'SIGKILL' });
    expect(h.pid).toBeUndefined();
    await readyAgain;
    expect(h.restartCount).toBe(1);
    expect(h.pid).toBeGreaterThan(0);
    expect(h.pid).not.toBe(pid);
    const last = h.pid;
    await h.stop(); // answered once the host has exited
    expect(alive(last)).toBe(false);
    expect(k.list()).toEqual([]);
  }, 30_000);

  it('an adopted host counts only the restarts after the adoption', async () => {
    const { socket } = await keeper();
    const a = await client(socket);
    const h = a.host('uid-r', spec('r-0'), {});
    await h.start();
    const ready = new Promise<void>((r) => h.once('ready', () => r()));
    process.kill(h.pid!, 'SIGKILL');
    await ready;
    expect(h.restartCount).toBe(1);
    a.detach();
    a.close();
    const b = await client(socket);
    expect(b.found[0].restartCount).toBe(1);
    const adopted = b.host('uid-r', spec('r-0'), {});
    await adopted.start();
    expect(adopted.adopted).toBe(true);
    expect(adopted.restartCount).toBe(0);
  }, 30_000);

  it("a host's failed first start is the start's error, and the keeper keeps nothing of it", async () => {
    const { k, socket } = await keeper();
    const c = await client(socket);
    const bad = c.host('uid-f', { ...spec('f-0'), librarySha256: '0'.repeat(64) }, {});
    const err = await bad.start().then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('LIBRARY_HASH_MISMATCH');
    expect(k.list()).toEqual([]);
  }, 30_000);

  it('hosts no agent adopts within the orphan grace are stopped; an agent back in time keeps them', async () => {
    const { k, socket } = await keeper(1500);
    const a = await client(socket);
    const h = a.host('uid-o', spec('o-0'), {});
    await h.start();
    a.detach();
    a.close();
    await new Promise((r) => setTimeout(r, 500));
    const b = await client(socket); // back within the grace: the timer is cleared
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(h.pid)).toBe(true);
    b.detach();
    b.close();
    await until('the orphaned host stopped', () => !alive(h.pid), 10_000);
    await until('the keeper forgot it', () => k.list().length === 0);
  }, 30_000);

  it('a newer agent takes over: the older one is told it lost the keeper, and only the newer one is answered', async () => {
    const { socket } = await keeper();
    const older = await client(socket);
    const lost = new Promise<void>((r) => older.once('lost', () => r()));
    const newer = await client(socket);
    await lost;
    await expect(older.request({ op: 'list' })).rejects.toMatchObject({ code: 'CRASHED' });
    expect((await newer.request({ op: 'list' })).hosts).toEqual([]);
  });

  it('a detached client that closes does not say it lost the keeper', async () => {
    const { socket } = await keeper();
    const c = await client(socket);
    let lost = false;
    c.on('lost', () => {
      lost = true;
    });
    c.detach();
    c.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(lost).toBe(false);
  });

  it('a keeper closed before it listened closes quietly', async () => {
    const k = new HostKeeper({ socketPath: join(dir, 'never', 'keeper.sock'), node: 'n1', hostPoolSize: 0 });
    await expect(k.close()).resolves.toBeUndefined();
  });

  it('takes the place of a stale socket file; close() stops every host and removes the socket', async () => {
    const socket = join(dir, 'stale', 'keeper.sock');
    mkdirSync(join(dir, 'stale'), { recursive: true });
    writeFileSync(socket, 'left by a keeper that died');
    const k = new HostKeeper({ socketPath: socket, node: 'n1', hostPoolSize: 0, orphanGraceMs: 0 });
    await k.listen();
    expect(statSync(socket).isSocket()).toBe(true);
    const c = await client(socket);
    const h = c.host('uid-z', spec('z-0'), {});
    await h.start();
    c.detach();
    c.close();
    await k.close();
    expect(alive(h.pid)).toBe(false);
    expect(existsSync(socket)).toBe(false);
    expect(k.list()).toEqual([]);
  }, 30_000);

  it('by default keeps two idle hosts ready, and keeps hosts of a gone agent for the 120 s grace', async () => {
    const { socket } = await keeper(0, {}); // the keeper's defaults: a pool of 2, a grace of 120 s
    const records = join(dirname(socket), 'hosts');
    await until('two idle hosts', () => processesMarked(HOST_RECORDS_ENV, records).filter(alive).length === 2);
    const c = await client(socket);
    const h = c.host('uid-g', spec('g-0'), {});
    await h.start();
    c.detach();
    c.close();
    await new Promise((r) => setTimeout(r, 1000));
    expect(alive(h.pid)).toBe(true);
    expect(JSON.parse(readFileSync(join(records, 'uid-g.json'), 'utf8'))).toMatchObject({ uid: 'uid-g', name: 'g-0', pid: h.pid });
  }, 30_000);

  it('renews a running host: its reconnection is forwarded as renewed', async () => {
    const { socket } = await keeper();
    const c = await client(socket);
    const h = c.host('uid-w', spec('w-0'), {});
    await h.start();
    const renewed = new Promise<number>((r) => h.once('renewed', r));
    await h.renewCredentials();
    expect(await renewed).toBeGreaterThanOrEqual(0);
  }, 30_000);

  it('closes a connection that sends a line that is not JSON, and one whose hello names another version', async () => {
    const { socket } = await keeper();
    expect(await raw(socket, ['garbage\n', `${JSON.stringify({ id: 1, op: 'list' })}\n`], 2)).toEqual([]);
    const [nothing] = await raw(socket, ['null\n']);
    expect(JSON.parse(nothing)).toMatchObject({ id: 0, ok: false, code: 'KEEPER_BAD_REQUEST', message: 'not a request' });
    const line = (o: unknown) => `${JSON.stringify(o)}\n`;
    const replies = await raw(socket, [line({ id: 1, op: 'hello', version: 0, node: 'n1' }), line({ id: 2, op: 'list' })], 2);
    expect(replies.map((r) => JSON.parse(r).code)).toEqual(['KEEPER_VERSION_MISMATCH']);
    const [noOp] = await raw(socket, [line({ id: 7 })]);
    expect(JSON.parse(noOp)).toMatchObject({ ok: false, code: 'KEEPER_BAD_REQUEST', message: 'not a request' });
  });

  it('refuses each bad request with its own code', async () => {
    const { socket } = await keeper();
    const line = (o: unknown) => `${JSON.stringify(o)}\n`;
    const [noHello] = await raw(socket, [line({ id: 1, op: 'list' })]);
    expect(JSON.parse(noHello)).toEqual({
      id: 1,
      ok: false,
      code: 'KEEPER_NO_HELLO',
      message: 'say hello first (or another agent took over)',
    });
    const [version] = await raw(socket, [line({ id: 2, op: 'hello', version: PROTOCOL_VERSION + 1, node: 'n1' })]);
    expect(JSON.parse(version)).toMatchObject({ id: 2, ok: false, code: 'KEEPER_VERSION_MISMATCH' });
    expect(JSON.parse(version).message).toBe(
      `this keeper speaks protocol ${PROTOCOL_VERSION}, the agent ${PROTOCOL_VERSION + 1} (docs/upgrades.md, version skew)`,
    );
    const [notRequest] = await raw(socket, [line({ op: 'list' })]);
    expect(JSON.parse(notRequest)).toMatchObject({ id: 0, ok: false, code: 'KEEPER_BAD_REQUEST', message: 'not a request' });
    const hello = line({ id: 1, op: 'hello', version: PROTOCOL_VERSION, node: 'n1' });
    const replies = await raw(
      socket,
      [
        hello,
        line({ id: 2, op: 'frobnicate' }),
        line({ id: 3, op: 'start', uid: '' }),
        line({ id: 4, op: 'renew', uid: 'nope' }),
        line({ id: 5, op: 'stop', uid: 'nope' }),
        line({ id: 6, op: 'start', uid: 'u-6' }),
        line({ id: 7, op: 'start', uid: 7, spec: spec('s-7') }),
        // a second hello on the same connection keeps it: the list after it is answered
        hello.replace('"id":1', '"id":8'),
        line({ id: 9, op: 'list' }),
      ],
      9,
    );
    const byId = Object.fromEntries(replies.map((r) => [JSON.parse(r).id, JSON.parse(r)]));
    expect(byId[1]).toMatchObject({ ok: true, version: PROTOCOL_VERSION, hosts: [] });
    expect(byId[2]).toEqual({ id: 2, ok: false, code: 'KEEPER_BAD_REQUEST', message: 'unknown op frobnicate' });
    expect(byId[3]).toEqual({ id: 3, ok: false, code: 'KEEPER_BAD_REQUEST', message: 'start needs uid and spec' });
    expect(byId[4]).toEqual({ id: 4, ok: false, code: 'KEEPER_UNKNOWN_HOST', message: 'no host for instance uid nope' });
    expect(byId[5]).toEqual({ id: 5, ok: true });
    expect(byId[6]).toEqual({ id: 6, ok: false, code: 'KEEPER_BAD_REQUEST', message: 'start needs uid and spec' });
    expect(byId[7]).toEqual({ id: 7, ok: false, code: 'KEEPER_BAD_REQUEST', message: 'start needs uid and spec' });
    expect([byId[8]?.ok, byId[9]]).toEqual([true, { id: 9, ok: true, hosts: [] }]);
  });

  it('an agent with no keeper to reach fails with KEEPER_UNREACHABLE naming the socket', async () => {
    const path = join(dir, 'none', 'keeper.sock');
    const err = await KeeperClient.connect(path, 'n1', log, 300).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('KEEPER_UNREACHABLE');
    expect(err?.message).toContain(`cannot reach the host keeper at ${path}`);
    expect(existsSync(path)).toBe(false);
  });

  it('a keeper that restarts stops the hosts its predecessor left (from its records) before it serves', async () => {
    const socket = join(dir, 'restart', 'keeper.sock');
    const first = new HostKeeper({ socketPath: socket, node: 'n1', hostPoolSize: 0, orphanGraceMs: 0 });
    await first.listen();
    const c = await client(socket);
    const h = c.host('uid-k', spec('k-0'), {});
    await h.start();
    const pid = h.pid;
    c.detach();
    c.close();
    // the keeper dies without stopping its hosts (its socket closes; its records stay)
    (first as unknown as { server: { close(): void } }).server.close();
    expect(alive(pid)).toBe(true);
    const second = new HostKeeper({ socketPath: socket, node: 'n1', hostPoolSize: 0, orphanGraceMs: 0 });
    keepers.push(second, first);
    await second.listen();
    expect(alive(pid)).toBe(false);
    expect(second.list()).toEqual([]);
  }, 30_000);
});

describe('what the keeper passes on, each way', () => {
  /** The next `event` of a host on the agent's side, or a clear failure after `ms`. */
  const next = <T extends unknown[]>(h: { once(e: string, f: (...a: T) => void): unknown }, event: string, ms = 15_000) =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no '${event}' event within ${ms} ms`)), ms);
      h.once(event, (...a: T) => {
        clearTimeout(t);
        resolve(a);
      });
    });

  it("a host's call counts and health changes reach the agent; a stop the keeper makes is told as stopped, and its record goes", async () => {
    const { socket } = await keeper();
    const c = await client(socket);
    const healthFile = join(dir, 'health-h-0');
    writeFileSync(healthFile, '');
    const h = c.host(
      'uid-h',
      {
        ...spec('h-0'),
        libraryPath: providerLib('health'),
        librarySha256: sha256(readFileSync(providerLib('health'))),
        expectedCapid: 'gantry:health',
        provider: 'health',
        config: { health_file: healthFile },
        health: { periodSeconds: 1, failureThreshold: 1000 },
      },
      {},
    );
    const calls = next<[{ startedAt?: number }]>(h, 'calls'); // every second, from the host
    await h.start();
    expect((await calls)[0]).toHaveProperty('startedAt');
    const sick = next<[boolean, string]>(h, 'health');
    writeFileSync(healthFile, 'the disk is full');
    expect(await sick).toEqual([false, 'the disk is full']);
    const record = join(dirname(socket), 'hosts', 'uid-h.json');
    expect(existsSync(record)).toBe(true);
    // a stop the agent's host did not ask for (h.stop() would forget the host first): told as 'stopped'
    const stopped = next(h, 'stopped');
    await c.request({ op: 'stop', uid: 'uid-h' });
    await stopped;
    expect(h.pid).toBeUndefined();
    expect(existsSync(record)).toBe(false);
  }, 30_000);

  it('a host being stopped is never adopted: a start of the same spec while it stops gets a new host', async () => {
    const { k, socket } = await keeper();
    const c = await client(socket);
    const h = c.host('uid-s', spec('s-0'), {});
    await h.start();
    const old = h.pid;
    // the stop and the next start cross: the keeper reads both before the old host has exited
    const stopping = c.request({ op: 'stop', uid: 'uid-s' });
    const again = c.host('uid-s', spec('s-0'), {});
    await Promise.all([stopping, again.start()]);
    expect(again.adopted).toBe(false);
    expect(again.pid).not.toBe(old);
    expect(alive(old)).toBe(false);
    expect(k.list()).toMatchObject([{ uid: 'uid-s', state: 'ready', pid: again.pid }]);
  }, 30_000);

  it('a host that fails for good is told as failed, loses its record, and is never adopted: the next start makes a new host', async () => {
    const { k, socket } = await keeper();
    const c = await client(socket);
    const lib = join(dir, 'echo-replaced.so');
    copyFileSync(providerLib('echo'), lib);
    const s = { ...spec('x-0'), libraryPath: lib };
    const h = c.host('uid-x', s, {});
    await h.start();
    const record = join(dirname(socket), 'hosts', 'uid-x.json');
    expect(existsSync(record)).toBe(true);
    // the file under the host is replaced by other bytes (renamed over: the running process keeps its copy);
    // its restart hashes the new file, which is terminal
    writeFileSync(`${lib}.other`, 'not the library that was signed');
    renameSync(`${lib}.other`, lib);
    const failed = next<[Error & { code?: string }]>(h, 'failed');
    process.kill(h.pid!, 'SIGKILL');
    expect((await failed)[0].code).toBe('LIBRARY_HASH_MISMATCH');
    expect(existsSync(record)).toBe(false);
    expect(k.list()).toMatchObject([{ uid: 'uid-x', state: 'failed' }]);
    // the same spec again, the library back: a new host, not the failed one adopted
    copyFileSync(providerLib('echo'), lib);
    const again = c.host('uid-x', s, {});
    await again.start();
    expect(again.adopted).toBe(false);
    expect(alive(again.pid)).toBe(true);
    expect(k.list()).toMatchObject([{ uid: 'uid-x', state: 'ready', pid: again.pid }]);
  }, 30_000);

  it("the agent's options reach the host: a start timeout, a memory limit polled by default, and polling turned off", async () => {
    const { k, socket } = await keeper();
    const c = await client(socket);
    const slow = c.host('uid-t', spec('t-0'), { startTimeoutMs: 1 });
    const err = await slow.start().then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('START_TIMEOUT');
    // a host's RSS is tens of MiB: over 1 MiB it is killed at the next poll (250 ms by default)
    const capped = c.host('uid-m', spec('m-0'), { memoryLimitBytes: 1024 * 1024 });
    const crash = next<[{ error?: { code: string } }]>(capped, 'crash');
    const unpolled = c.host('uid-u', spec('u-0'), { memoryLimitBytes: 1024 * 1024, memoryCheckMs: 0 });
    let unpolledCrashes = 0;
    unpolled.on('crash', () => unpolledCrashes++);
    await Promise.all([capped.start().catch(() => {}), unpolled.start()]);
    expect((await crash)[0].error?.code).toBe('OOM_KILLED');
    await new Promise((r) => setTimeout(r, 700));
    expect(unpolledCrashes).toBe(0);
    expect(k.list().find((x) => x.uid === 'uid-u')?.restartCount).toBe(0);
  }, 30_000);
});
