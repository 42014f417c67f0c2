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
 * The server runs the full resolver: account JWTs are pushed at run time
 * ($SYS.REQ.CLAIMS.UPDATE, signed by the operator) and kept in its resolver dir; no config
 * reload. Revocation is the account JWT's list of user key → cut-off time (every JWT of that
 * key issued at or before it is refused, and its connections closed): `revoke()` then
 * `pushAccount()`. The list lives in the pushed account JWT itself, so `syncRevocations()`
 * recovers it from the server after a restart.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';
import { connect, jwtAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefix } from '../client/protocol.js';
import { formatCreds } from './creds.js';
import { MembraneError } from './errors.js';
import { decodeJwt, encodeJwt } from './jwt.js';
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
  /** Seconds since the epoch. */
  exp?: number;
  /** Seconds since the epoch; default now, or just after the key's revocation cut-off. */
  iat?: number;
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
  /** user key → revocation cut-off (seconds): JWTs of that key issued at or before it are refused. */
  readonly revocations = new Map<string, number>();
  private lastAccountIat = 0;
  private pushConn?: Promise<NatsConnection>;

  private constructor(
    private readonly operator: KeyPair,
    private readonly system: KeyPair,
    private readonly account: KeyPair,
  ) {}

  static generate(): MembraneAuthority {
    return new MembraneAuthority(createOperator(), createAccount(), createAccount());
  }

  static fromSeeds(s: { operator: string; system: string; account: string }): MembraneAuthority {
    return new MembraneAuthority(
      keyFrom(s.operator, 'SO', 'operator'),
      keyFrom(s.system, 'SA', 'system account'),
      keyFrom(s.account, 'SA', 'gantry account'),
    );
  }

  /** Load the three seeds from a directory (KEY_FILES), e.g. the mounted gantry-membrane-keys Secret. */
  static load(dir: string): MembraneAuthority {
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
    const a = MembraneAuthority.fromSeeds({
      operator: read(KEY_FILES.operator),
      system: read(KEY_FILES.system),
      account: read(KEY_FILES.account),
    });
    const rev = join(dir, 'revocations.json');
    if (existsSync(rev))
      for (const [k, t] of Object.entries(JSON.parse(readFileSync(rev, 'utf8')) as Record<string, number>)) a.revocations.set(k, t);
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
    writeFileSync(join(dir, 'revocations.json'), JSON.stringify(Object.fromEntries(this.revocations)) + '\n', { mode: 0o600 });
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

  /** The gantry account's JWT as it should be now (with the revocation list), newer than any before. */
  accountJwt(): string {
    const iat = Math.max(Math.floor(Date.now() / 1000), this.lastAccountIat + 1);
    this.lastAccountIat = iat;
    const revocations = this.revocations.size ? { revocations: Object.fromEntries(this.revocations) } : {};
    return encodeJwt(this.operator, {
      sub: this.accountKey,
      name: 'gantry',
      iat,
      nats: { type: 'account', limits: UNLIMITED, default_permissions: accountDefaultPermissions(), ...revocations },
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
   * creds returned). Permissions depend on the key (its inbox): pass a function of it.
   */
  mintUser(name: string, perms: (userKey: string) => UserPermissions, o: MintOptions & { userKey?: string } = {}): MintedUser {
    return this.mint(this.account, name, perms, o);
  }

  /** A system-account user that may only push and look up account JWTs. */
  mintSystemUser(name: string): MintedUser {
    const kp = createUser();
    return this.mint(this.system, name, systemPermissions, { keyPair: kp });
  }

  private mint(
    signer: KeyPair,
    name: string,
    perms: (userKey: string) => UserPermissions,
    o: MintOptions & { userKey?: string; keyPair?: KeyPair },
  ): MintedUser {
    const kp = o.keyPair ?? (o.userKey ? undefined : createUser());
    const userKey = kp ? kp.getPublicKey() : o.userKey!;
    if (!/^U[A-Z2-7]{55}$/.test(userKey))
      throw new MembraneError('KEYS_INVALID', `${userKey} is not a NATS user public key (56 characters starting with U)`);
    // A key revoked before must get a JWT issued after its cut-off, or it is born revoked.
    const cutoff = this.cutoffFor(userKey);
    const iat = o.iat ?? Math.max(Math.floor(Date.now() / 1000), cutoff !== undefined ? cutoff + 1 : 0);
    const jwt = encodeJwt(signer, {
      sub: userKey,
      name,
      iat,
      exp: o.exp,
      nats: { type: 'user', ...perms(userKey), subs: -1, data: -1, payload: -1 },
    });
    const seed = kp ? seedOf(kp) : undefined;
    return { jwt, userKey, seed, creds: seed ? formatCreds(jwt, seed) : undefined };
  }

  /** The revocation cut-off that applies to JWTs of `userKey` (seconds): those issued at or before it are refused. */
  cutoffFor(userKey: string): number | undefined {
    return this.revocations.get(userKey);
  }

  /** Revoke every JWT of `userKey` issued at or before `at` (seconds; default now). Takes effect on pushAccount(). */
  revoke(userKey: string, at = Math.floor(Date.now() / 1000)): number {
    this.revocations.set(userKey, Math.max(at, this.revocations.get(userKey) ?? 0));
    return this.revocations.get(userKey)!;
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
   * Re-sign the gantry account's JWT (with the current revocation list) and push it to the
   * servers; resolves once a server has stored it, throws MembraneError PUSH_FAILED otherwise.
   */
  async pushAccount(servers: string | string[], timeoutMs = 5000): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await this.systemConnection(servers);
    } catch (e) {
      throw new MembraneError('PUSH_FAILED', `cannot connect to NATS at ${String(servers)} as the system account: ${(e as Error).message}`);
    }
    const jwt = this.accountJwt();
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

  /** Merge the revocation list of the account JWT the servers hold (after a restart of whoever holds this authority). */
  async syncRevocations(servers: string | string[], timeoutMs = 5000): Promise<void> {
    const nc = await this.systemConnection(servers);
    const m = await nc.request(`$SYS.REQ.ACCOUNT.${this.accountKey}.CLAIMS.LOOKUP`, new Uint8Array(0), { timeout: timeoutMs });
    const text = new TextDecoder().decode(m.data).trim();
    if (!text || text.startsWith('{')) return; // not known to the server (yet)
    const claims = decodeJwt(text);
    this.lastAccountIat = Math.max(this.lastAccountIat, claims.iat);
    const rev = (claims.nats as { revocations?: Record<string, number> }).revocations ?? {};
    for (const [k, t] of Object.entries(rev)) if (t > (this.revocations.get(k) ?? 0)) this.revocations.set(k, t);
  }

  async close(): Promise<void> {
    const c = this.pushConn;
    this.pushConn = undefined;
    if (c) await (await c.catch(() => undefined))?.close();
  }
}
