/**
 * Revocation that holds at scale, against a real nats-server (v2.9.10) in operator mode:
 *  - the revoke-all entry ('*') refuses every JWT issued before it, live and new connections,
 *    and is set once (the migration to enforced JWT lifetimes) and kept across restarts;
 *  - more than 100,000 revocations over simulated time: unpruned, the account JWT no longer
 *    fits in max_payload and the push fails REVOCATIONS_TOO_LARGE; pruned, the list stays
 *    bounded, every push succeeds, and a fresh revocation still cuts a live connection and
 *    refuses reconnects.
 */
import { randomBytes } from 'node:crypto';
import { createUser, fromPublic, fromSeed } from '@nats-io/nkeys';
import { connect, jwtAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { reportPushes } from '../../controller/membrane.js';
import { ControllerMetrics } from '../../controller/metrics.js';
import { inboxPrefix } from '../../client/protocol.js';
import { MembraneAuthority, type PushReport } from '../../membrane/authority.js';
import { MembraneError } from '../../client/membrane-errors.js';
import { decodeJwt, encodeJwt } from '../../client/jwt.js';
import { REVOKE_ALL } from '../../membrane/revocations.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';

let nats: MembraneNats | undefined;
afterEach(async () => {
  await nats?.stop();
  nats = undefined;
});

const DAY = 86_400;
/** Permissions of a user that only needs to stay connected. */
const nothing = () => ({ pub: {}, sub: {} });

/** A valid user public key (nkey encoding: prefix byte, 32 bytes, CRC-16/XMODEM, base32) without an ed25519 key generation. */
function userKey(): string {
  const raw = Buffer.concat([Buffer.from([20 << 3]), randomBytes(32)]);
  let crc = 0;
  for (const b of raw) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  const bytes = Buffer.concat([raw, Buffer.from([crc & 0xff, crc >> 8])]);
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out + (bits > 0 ? A[(value << (5 - bits)) & 31] : '');
}

/** Connect with a JWT and seed, no reconnects: a refusal rejects. */
function connectAs(url: string, jwt: string, seed: string): Promise<NatsConnection> {
  return connect({
    servers: url,
    authenticator: jwtAuthenticator(jwt, new TextEncoder().encode(seed)),
    reconnect: false,
    timeout: 3000,
  });
}

/** The account JWT the server holds now (as the system account sees it). */
async function serverAccountJwt(n: MembraneNats): Promise<string> {
  const sys = n.authority.mintSystemUser('test-lookup');
  const nc = await connect({
    servers: n.url,
    inboxPrefix: inboxPrefix(sys.userKey), // the system user may read only its own inbox
    authenticator: jwtAuthenticator(sys.jwt, new TextEncoder().encode(sys.seed!)),
  });
  try {
    const m = await nc.request(`$SYS.REQ.ACCOUNT.${n.authority.accountKey}.CLAIMS.LOOKUP`, new Uint8Array(0), { timeout: 3000 });
    return new TextDecoder().decode(m.data).trim();
  } finally {
    await nc.close();
  }
}

const revocationsOf = (jwt: string) => (decodeJwt(jwt).nats as { revocations?: Record<string, number> }).revocations ?? {};

describe('the revoke-all entry (migration to enforced JWT lifetimes)', () => {
  it('refuses every JWT issued before it, held and new, is set once, and survives a restart of the authority', async () => {
    const t0 = Date.now();
    // Keys made by an earlier version: no revoke-all entry, JWTs without exp.
    const old = MembraneAuthority.generate();
    const seeds = old.seeds();
    const legacy = MembraneAuthority.fromSeeds(seeds);
    expect(legacy.revocations.revokeAllCutoff).toBeUndefined();
    nats = await startMembraneNats({ authority: legacy });
    const account = fromSeed(new TextEncoder().encode(seeds.account)); // the account key signs users
    const kp = createUser();
    const seed = new TextDecoder().decode(kp.getSeed());
    const noExp = encodeJwt(account, {
      sub: kp.getPublicKey(),
      iat: Math.floor(Date.now() / 1000) - 3600,
      nats: { type: 'user', subs: -1, data: -1, payload: -1 },
    });
    expect(decodeJwt(noExp).exp).toBeUndefined();
    const held = await connectAs(nats.url, noExp, seed);
    const closed = held.closed();

    expect(await legacy.syncRevocations(nats.url)).toBe(true); // first run with lifetimes: set it
    const cutoff = legacy.revocations.revokeAllCutoff!;
    expect(legacy.cutoffFor(kp.getPublicKey())).toBe(cutoff);
    expect(legacy.cutoffFor('Uanything')).toBe(cutoff);
    await legacy.pushAccount(nats.url);
    expect(revocationsOf(await serverAccountJwt(nats))[REVOKE_ALL]).toBe(cutoff);

    expect(String(await closed)).toMatch(/authorization violation|revoked/i);
    const again = await connectAs(nats.url, noExp, seed).catch((e: Error) => e);
    expect(String(again)).toMatch(/authorization violation/i);

    // The same key with a JWT minted now (iat after the cut-off, with exp) is let in.
    const fresh = legacy.mintUser('fresh', nothing, { userKey: kp.getPublicKey() });
    const c = decodeJwt(fresh.jwt);
    expect(c.iat).toBeGreaterThan(cutoff);
    expect(c.exp).toBe(c.iat + DAY);
    await (await connectAs(nats.url, fresh.jwt, seed)).close();

    // Set once: a second sync, and a restarted authority, find it on the server and keep it.
    expect(await legacy.syncRevocations(nats.url)).toBe(false);
    const restarted = MembraneAuthority.fromSeeds(seeds);
    expect(await restarted.syncRevocations(nats.url)).toBe(false);
    expect(restarted.revocations.revokeAllCutoff).toBe(cutoff);
    await restarted.close();
    console.log(`revoke-all: migration, push, refusals and restart in ${Date.now() - t0} ms`);
  });
});

describe('100,000 revocations', () => {
  it('unpruned they no longer fit in max_payload (REVOCATIONS_TOO_LARGE); pruned they stay bounded and a fresh revocation still cuts', async () => {
    const t0 = Date.now();
    const total = 102_500; // a multiple of the batch, so the last push holds the last revocation
    const span = 20 * DAY; // simulated: ~5,000 revocations a day for 20 days
    const realStart = Math.floor(Date.now() / 1000);
    let sim: number | undefined = (realStart - span) * 1000;
    const now = () => sim ?? Date.now();
    const authority = MembraneAuthority.generate({ now });
    nats = await startMembraneNats({ authority }); // max_payload: nats-server's default, 1 MB
    // The same keys as an earlier version would hold them: nothing can be pruned.
    const unpruned = MembraneAuthority.fromSeeds(authority.seeds(), { now });
    const reports: PushReport[] = [];
    authority.onPush = (r) => reports.push(r);
    const failures: PushReport[] = [];
    unpruned.onPush = (r) => failures.push(r);

    const keys = Array.from({ length: total }, userKey);
    expect(fromPublic(keys[0]).getPublicKey()).toBe(keys[0]);
    let peak = 0;
    for (let i = 0; i < total; i++) {
      sim = (realStart - span) * 1000 + Math.floor((i * span * 1000) / total);
      authority.revoke(keys[i]);
      unpruned.revoke(keys[i]);
      if (i % 2500 === 2499) {
        await authority.pushAccount(nats.url);
        peak = Math.max(peak, authority.revocations.size);
      }
    }
    const t1 = Date.now();
    // Without pruning: refused before sending, with the numbers.
    const err = await unpruned.pushAccount(nats.url).catch((e: MembraneError) => e);
    expect(err).toBeInstanceOf(MembraneError);
    expect((err as MembraneError).code).toBe('REVOCATIONS_TOO_LARGE');
    expect((err as Error).message).toMatch(/max_payload of 1048576/);
    expect(failures[0]).toMatchObject({ ok: false, code: 'REVOCATIONS_TOO_LARGE', revocations: total, maxPayload: 1_048_576 });
    expect(failures[0].bytes!).toBeGreaterThan(8 * 1_048_576);
    await unpruned.close();

    // With pruning: every push succeeded and the list holds about one lifetime (+ skew) of revocations.
    expect(reports.length).toBe(Math.floor(total / 2500));
    expect(reports.every((r) => r.ok)).toBe(true);
    const perDay = total / 20;
    expect(peak).toBeLessThanOrEqual(Math.ceil(perDay * (1 + 300 / DAY)) + 2);
    expect(peak).toBeGreaterThan(perDay * 0.9);
    const biggest = Math.max(...reports.map((r) => r.bytes!));
    expect(biggest).toBeLessThan(1_048_576);
    const held = revocationsOf(await serverAccountJwt(nats));
    expect(Object.keys(held).length).toBe(authority.revocations.size);
    expect(held[keys[0]]).toBeUndefined(); // pruned
    expect(held[keys[total - 1]]).toBeDefined();

    // Back to real time: a fresh revocation still cuts a live connection and refuses reconnects.
    sim = undefined;
    const u = authority.mintUser('fresh', nothing);
    const nc = await connectAs(nats.url, u.jwt, u.seed!);
    const closed = nc.closed();
    const tr = Date.now();
    authority.revoke(u.userKey);
    await authority.pushAccount(nats.url);
    const pushed = Date.now() - tr;
    expect(String(await closed)).toMatch(/authorization violation|revoked/i);
    const cut = Date.now() - tr;
    const again = await connectAs(nats.url, u.jwt, u.seed!).catch((e: Error) => e);
    expect(String(again)).toMatch(/authorization violation/i);
    console.log(
      `100k revocations: ${total} revoked over ${span / DAY} simulated days in ${t1 - t0} ms (${reports.length} pushes); ` +
        `unpruned ${failures[0].bytes} bytes > max_payload ${failures[0].maxPayload}; pruned peak ${peak} entries, ` +
        `largest JWT ${biggest} bytes; fresh revocation closed a live connection ${cut} ms after revoke() (push answered after ${pushed} ms)`,
    );
  }, 120_000);
});

describe("the controller's report of pushes", () => {
  it('counts every push by result and logs one that no longer fits at error level, with the numbers', async () => {
    nats = await startMembraneNats({ maxPayload: 16_384 });
    const metrics = new ControllerMetrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    reportPushes({ authority: nats.authority, servers: nats.url }, log, metrics);
    await nats.authority.pushAccount(nats.url);
    for (let i = 0; i < 300; i++) nats.authority.revoke(userKey());
    const err = await nats.authority.pushAccount(nats.url).catch((e: MembraneError) => e);
    expect((err as MembraneError).code).toBe('REVOCATIONS_TOO_LARGE');
    const pushes = await metrics.registry.getSingleMetricAsString('gantry_membrane_account_pushes_total');
    expect(pushes).toMatch(/result="ok"} 1/);
    expect(pushes).toMatch(/result="REVOCATIONS_TOO_LARGE"} 1/);
    expect(await metrics.registry.getSingleMetricAsString('gantry_membrane_revocations')).toMatch(/ 301$/m);
    const failed = lines.find((l) => l.level === 50);
    expect(failed).toMatchObject({ code: 'REVOCATIONS_TOO_LARGE', maxPayload: 16_384, revocations: 301 });
    expect(failed!.bytes as number).toBeGreaterThan(16_384);
    expect(failed!.msg).toMatch(/not in force/);
  });
});
