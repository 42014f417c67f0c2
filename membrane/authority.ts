/**
 * The membrane's authority: the keys nats-server trusts and everything signed with them.
 *
 * NATS decentralized authentication has three levels: an operator (whose JWT the server is
 * configured with) signs accounts, an account signs its users. Gantry uses one operator, the
 * system account (which the server uses for its own requests, and through which account JWTs
 * are pushed) and one `gantry` account in which every identity on the bus is a user, each with
 * exactly the permissions of membrane/permissions.ts. Whoever holds this authority (the
 * controller in a cluster, the sandbox locally) mints every credential.
 *
 * The server runs the full resolver: account JWTs are pushed at run time ($SYS.REQ.CLAIMS.UPDATE,
 * signed by the operator) and kept in its resolver dir. Revocation is the account JWT's list of
 * user key → cut-off time (JWTs of that key issued at or before it are refused, their connections
 * closed): `revoke()` then `pushAccount()`; `syncRevocations()` recovers it after a restart. Every
 * user JWT expires (`maxJwtLifetimeSec`), so the list is pruned (membrane/revocations.ts) and stays
 * small enough to push; a push that still cannot fit fails with REVOCATIONS_TOO_LARGE.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';
import { connect, jwtAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefix } from '../client/protocol.js';
import { formatCreds } from '../client/creds.js';
import { MembraneError } from '../client/membrane-errors.js';
import { decodeJwt, encodeJwt } from '../client/jwt.js';
import { lifetimeTag, RevocationList, recordedLifetime } from './revocations.js';
import { accountDefaultPermissions, systemPermissions, type UserPermissions } from './permissions.js';

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export const KEY_FILES = { operator: 'operator.nk', system: 'system-account.nk', account: 'gantry-account.nk' } as const;

export interface MintedUser {
  jwt: string;
  userKey: string;
  /** Present when the authority generated the key pair (hosts, admin); absent for a grantee's own key. */
  seed?: string;
  /** The .creds file content, when the seed is known. */
  creds?: string;
}

export interface MintOptions {
  /**
   * Seconds since the epoch. Clamped to iat + the authority's maxJwtLifetimeSec; absent = that
   * bound (no gantry-account JWT lives longer, which is what lets revocations be pruned).
   */
  exp?: number;
  /** Seconds since the epoch; default now, or just after the key's revocation cut-off. */
  iat?: number;
}

export interface AuthorityOptions {
  /** The longest a gantry-account user JWT may live (seconds); default 24 h. */
  maxJwtLifetimeSec?: number;
  /** Margin for disagreeing clocks before a revocation entry is pruned (seconds); default 300. */
  clockSkewSec?: number;
  /** Milliseconds since the epoch (tests simulate time with it); default Date.now. */
  now?: () => number;
}

/** What one account push did, for the controller's logs and metrics. */
export interface PushReport {
  ok: boolean;
  /** The MembraneError code when it failed. */
  code?: string;
  message?: string;
  /** The account JWT's size in bytes, and the server's max_payload when known. */
  bytes?: number;
  maxPayload?: number;
  revocations: number;
  pruned: number;
}

function seedOf(kp: KeyPair): string {
  return new TextDecoder().decode(kp.getSeed());
}

function keyFrom(text: string, prefix: string, what: string): KeyPair {
  const seed = text.trim();
  if (!seed.startsWith(prefix)) throw new MembraneError('KEYS_INVALID', `the ${what} key is not a seed starting with ${prefix}`);
  try {
    return fromSeed(new TextEncoder().encode(seed));
  } catch (e) {
    throw new MembraneError('KEYS_INVALID', `the ${what} key is not a valid nkey seed: ${(e as Error).message}`);
  }
}

export class MembraneAuthority {
  /** user key → revocation cut-off (seconds): JWTs of that key issued at or before it are refused; '*' = every key. */
  readonly revocations: RevocationList;
  private lastAccountIat = 0;
  private pruned = 0;
  private pushConn?: Promise<NatsConnection>;
  /** Called after every pushAccount(), succeeded or not (the controller's logs and metrics). */
  onPush?: (r: PushReport) => void;

  private constructor(
    private readonly operator: KeyPair,
    private readonly system: KeyPair,
    private readonly account: KeyPair,
    o: AuthorityOptions,
  ) {
    this.revocations = new RevocationList({ maxLifetimeSec: o.maxJwtLifetimeSec, skewSec: o.clockSkewSec, now: o.now });
  }

  /**
   * New keys: nothing was minted with them before, so every JWT they will sign expires — the
   * revoke-all entry is set just before now and the list can be pruned from the start.
   */
  static generate(o: AuthorityOptions = {}): MembraneAuthority {
    const a = new MembraneAuthority(createOperator(), createAccount(), createAccount(), o);
    a.revocations.revokeAllOnce(a.revocations.nowSec() - 1);
    return a;
  }

  /**
   * Existing keys: JWTs without `exp` may exist, so nothing is pruned until syncRevocations()
   * finds (or sets, once) the revoke-all entry.
   */
  static fromSeeds(s: { operator: string; system: string; account: string }, o: AuthorityOptions = {}): MembraneAuthority {
    return new MembraneAuthority(
      keyFrom(s.operator, 'SO', 'operator'),
      keyFrom(s.system, 'SA', 'system account'),
      keyFrom(s.account, 'SA', 'gantry account'),
      o,
    );
  }

  /** Load the three seeds from a directory (KEY_FILES), e.g. the mounted gantry-membrane-keys Secret. */
  static load(dir: string, o: AuthorityOptions = {}): MembraneAuthority {
    const read = (f: string) => {
      try {
        return readFileSync(join(dir, f), 'utf8');
      } catch (e) {
        throw new MembraneError(
          'KEYS_INVALID',
          `cannot read membrane key ${join(dir, f)}: ${(e as Error).message}; create the keys with \`gantry membrane init\``,
        );
      }
    };
    const a = MembraneAuthority.fromSeeds(
      {
        operator: read(KEY_FILES.operator),
        system: read(KEY_FILES.system),
        account: read(KEY_FILES.account),
      },
      o,
    );
    const rev = join(dir, 'revocations.json');
    if (existsSync(rev)) a.revocations.merge(JSON.parse(readFileSync(rev, 'utf8')) as Record<string, number>);
    return a;
  }

  /** Write the seeds (and the revocation list) as 0600 files in a 0700 directory. */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const seeds = this.seeds();
    for (const [k, f] of Object.entries(KEY_FILES)) writeFileSync(join(dir, f), seeds[k as keyof typeof seeds] + '\n', { mode: 0o600 });
    this.saveRevocations(dir);
  }

  saveRevocations(dir: string): void {
    writeFileSync(join(dir, 'revocations.json'), JSON.stringify(this.revocations.toRecord()) + '\n', { mode: 0o600 });
  }

  seeds(): { operator: string; system: string; account: string } {
    return { operator: seedOf(this.operator), system: seedOf(this.system), account: seedOf(this.account) };
  }

  get operatorKey(): string {
    return this.operator.getPublicKey();
  }
  get systemAccountKey(): string {
    return this.system.getPublicKey();
  }
  get accountKey(): string {
    return this.account.getPublicKey();
  }

  operatorJwt(): string {
    return encodeJwt(this.operator, {
      sub: this.operatorKey,
      name: 'gantry',
      iat: 0,
      nats: { type: 'operator', system_account: this.systemAccountKey },
    });
  }

  systemAccountJwt(): string {
    return encodeJwt(this.operator, { sub: this.systemAccountKey, name: 'SYS', iat: 1, nats: { type: 'account', limits: UNLIMITED } });
  }

  /**
   * The gantry account's JWT as it should be now (with the revocation list, pruned first),
   * newer than any before. Its tag records the lifetime pruning assumed, so a later run with
   * a shorter one does not prune entries that still cover longer-lived JWTs.
   */
  accountJwt(): string {
    this.pruned = this.revocations.prune();
    const iat = Math.max(this.revocations.nowSec(), this.lastAccountIat + 1);
    this.lastAccountIat = iat;
    const revocations = this.revocations.size ? { revocations: this.revocations.toRecord() } : {};
    return encodeJwt(this.operator, {
      sub: this.accountKey,
      name: 'gantry',
      iat,
      nats: {
        type: 'account',
        limits: UNLIMITED,
        default_permissions: accountDefaultPermissions(),
        tags: [lifetimeTag(this.revocations.assumedLifetimeSec)],
        ...revocations,
      },
    });
  }

  /**
   * The nats-server configuration for operator mode with the full resolver: accounts are
   * pushed at run time and kept in `resolverDir`, the system and gantry accounts preloaded.
   */
  serverConfig(resolverDir: string): string {
    // A restarted server keeps the pushed account (with its revocations) in the resolver dir:
    // preload the gantry account only when the dir does not hold it, or the preload (newer
    // by issue time) would replace the pushed revocation list.
    const stored = existsSync(resolverDir) && readdirSync(resolverDir).some((f) => f.startsWith(this.accountKey));
    return [
      'max_control_line: 65536', // user JWTs travel in CONNECT: a grant of many operations outgrows the 4 KB default
      `operator: ${this.operatorJwt()}`,
      `system_account: ${this.systemAccountKey}`,
      `resolver: { type: full, dir: ${JSON.stringify(resolverDir)}, allow_delete: false, interval: "2m", timeout: "1.9s" }`,
      'resolver_preload: {',
      `  ${this.systemAccountKey}: ${this.systemAccountJwt()}`,
      ...(stored ? [] : [`  ${this.accountKey}: ${this.accountJwt()}`]),
      '}',
      '',
    ].join('\n');
  }

  /**
   * Mint a user JWT in the gantry account. Without `userKey` a key pair is generated (and its
   * creds returned). Permissions depend on the key (its inbox): pass a function of it. Its
   * `exp` is at most iat + maxJwtLifetimeSec (MintOptions.exp): whoever needs longer renews.
   */
  mintUser(name: string, perms: (userKey: string) => UserPermissions, o: MintOptions & { userKey?: string } = {}): MintedUser {
    return this.mint(this.account, name, perms, { ...o, bounded: true });
  }

  /**
   * A system-account user that may only push and look up account JWTs. Not bounded: it lives
   * only in this process's memory (the push connection), and the gantry list cannot revoke it.
   */
  mintSystemUser(name: string): MintedUser {
    const kp = createUser();
    return this.mint(this.system, name, systemPermissions, { keyPair: kp });
  }

  private mint(
    signer: KeyPair,
    name: string,
    perms: (userKey: string) => UserPermissions,
    o: MintOptions & { userKey?: string; keyPair?: KeyPair; bounded?: boolean },
  ): MintedUser {
    const kp = o.keyPair ?? (o.userKey ? undefined : createUser());
    const userKey = kp ? kp.getPublicKey() : o.userKey!;
    if (!/^U[A-Z2-7]{55}$/.test(userKey))
      throw new MembraneError('KEYS_INVALID', `${userKey} is not a NATS user public key (56 characters starting with U)`);
    // A key revoked before must get a JWT issued after its cut-off, or it is born revoked.
    const cutoff = this.cutoffFor(userKey);
    const iat = o.iat ?? Math.max(this.revocations.nowSec(), cutoff !== undefined ? cutoff + 1 : 0);
    const jwt = encodeJwt(signer, {
      sub: userKey,
      name,
      iat,
      exp: o.bounded ? this.revocations.expFor(iat, o.exp) : o.exp,
      nats: { type: 'user', ...perms(userKey), subs: -1, data: -1, payload: -1 },
    });
    const seed = kp ? seedOf(kp) : undefined;
    return { jwt, userKey, seed, creds: seed ? formatCreds(jwt, seed) : undefined };
  }

  /**
   * The revocation cut-off that applies to JWTs of `userKey` (seconds): those issued at or
   * before it are refused — the later of the key's own entry and the revoke-all one.
   */
  cutoffFor(userKey: string): number | undefined {
    return this.revocations.cutoffFor(userKey);
  }

  /** Revoke every JWT of `userKey` issued at or before `at` (seconds; default now). Takes effect on pushAccount(). */
  revoke(userKey: string, at = this.revocations.nowSec()): number {
    return this.revocations.add(userKey, at);
  }

  /** TLS for the pushes' connection (the bus CA: membrane/bus-tls.ts); set before the first push. */
  busTls?: { caFile?: string; certFile?: string; keyFile?: string };

  /** The connection pushes go over: a fresh system-account user, made once. */
  private systemConnection(servers: string | string[]): Promise<NatsConnection> {
    if (!this.pushConn) {
      const u = this.mintSystemUser('gantry-membrane-push');
      this.pushConn = connect({
        servers,
        name: 'gantry-membrane',
        inboxPrefix: inboxPrefix(u.userKey),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        authenticator: jwtAuthenticator(u.jwt, new TextEncoder().encode(u.seed!)),
        ...(this.busTls ? { tls: { ...this.busTls } } : {}),
      });
      this.pushConn.catch(() => {
        this.pushConn = undefined;
      });
    }
    return this.pushConn;
  }

  /**
   * Re-sign the gantry account's JWT (with the current revocation list, pruned) and push it to
   * the servers; resolves once a server has stored it. Throws MembraneError
   * REVOCATIONS_TOO_LARGE when the JWT exceeds the server's max_payload (nothing is sent: the
   * server keeps the previous list, so the revocations since then do not take effect — say so
   * loudly), PUSH_FAILED when the server refuses or does not answer. Reports to `onPush`.
   */
  async pushAccount(servers: string | string[], timeoutMs = 5000): Promise<void> {
    const report: PushReport = { ok: false, revocations: 0, pruned: 0 };
    try {
      await this.push(servers, timeoutMs, report);
      report.ok = true;
    } catch (e) {
      report.code = (e as MembraneError).code ?? 'PUSH_FAILED';
      report.message = (e as Error).message;
      throw e;
    } finally {
      this.onPush?.(report);
    }
  }

  private async push(servers: string | string[], timeoutMs: number, report: PushReport): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await this.systemConnection(servers);
    } catch (e) {
      throw new MembraneError('PUSH_FAILED', `cannot connect to NATS at ${String(servers)} as the system account: ${(e as Error).message}`);
    }
    const jwt = this.accountJwt();
    Object.assign(report, { bytes: jwt.length, maxPayload: nc.info?.max_payload, revocations: this.revocations.size, pruned: this.pruned });
    // Checked here rather than left to the client library, whose error would not say why.
    if (report.maxPayload !== undefined && jwt.length > report.maxPayload) {
      throw new MembraneError(
        'REVOCATIONS_TOO_LARGE',
        `the gantry account JWT is ${jwt.length} bytes with ${this.revocations.size} revocation entries, over the server's max_payload of ${report.maxPayload}: ` +
          `not pushed, so no revocation since the last push takes effect; raise the servers' max_payload, or shorten the authority's maxJwtLifetimeSec so entries are pruned sooner`,
      );
    }
    let reply: { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
    try {
      const m = await nc.request('$SYS.REQ.CLAIMS.UPDATE', new TextEncoder().encode(jwt), { timeout: timeoutMs });
      reply = JSON.parse(new TextDecoder().decode(m.data));
    } catch (e) {
      throw new MembraneError('PUSH_FAILED', `nats-server did not accept the account update: ${(e as Error).message}`);
    }
    if (reply.error || (reply.data?.code !== undefined && reply.data.code !== 200)) {
      throw new MembraneError(
        'PUSH_FAILED',
        `nats-server refused the account update: ${reply.error?.description ?? reply.data?.message ?? JSON.stringify(reply)}`,
      );
    }
  }

  /**
   * Merge the revocation list of the account JWT the servers hold (after a restart of whoever
   * holds this authority), and the lifetime it recorded. When neither list has the revoke-all
   * entry, this is the first run with lifetimes enforced: set it now (once — it travels in the
   * account JWT from the next push on), refusing every older JWT, some of which may never
   * expire; returns true then. Holders of such JWTs get new ones (grants: the controller
   * re-issues when iat <= cutoffFor(key)).
   */
  async syncRevocations(servers: string | string[], timeoutMs = 5000): Promise<boolean> {
    const nc = await this.systemConnection(servers);
    const m = await nc.request(`$SYS.REQ.ACCOUNT.${this.accountKey}.CLAIMS.LOOKUP`, new Uint8Array(0), { timeout: timeoutMs });
    const text = new TextDecoder().decode(m.data).trim();
    if (text && !text.startsWith('{')) {
      const claims = decodeJwt(text);
      this.lastAccountIat = Math.max(this.lastAccountIat, claims.iat);
      const nats = claims.nats as { revocations?: Record<string, number>; tags?: unknown };
      this.revocations.merge(nats.revocations ?? {});
      const recorded = recordedLifetime(nats.tags);
      if (recorded !== undefined) this.revocations.assumeLifetime(recorded);
    }
    return this.revocations.revokeAllOnce();
  }

  async close(): Promise<void> {
    const c = this.pushConn;
    this.pushConn = undefined;
    if (c) await (await c.catch(() => undefined))?.close();
  }
}
