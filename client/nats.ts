/**
 * One way to open a NATS connection, for callers and provider hosts alike: servers,
 * credentials (token, user/password, nkey seed, user JWT creds file) and TLS files. Servers
 * may be several (an array, or one comma-separated string: `nats://a:4222,nats://b:4222`),
 * the members of one NATS cluster; the client also learns the cluster's other members from
 * the server it meets. Reconnects forever, 500 ms apart per server plus jitter, trying the
 * other servers first; subscriptions are restored by the client on reconnect, and requests
 * in flight when a server is lost fail at once with CONNECTION_LOST (client/call.ts,
 * `onConnectionLost`) instead of waiting for their timeout. A connection
 * that cannot be made is a `NatsConnectError` whose code says whether the credentials, TLS or
 * the server is at fault (the provider host reports the same codes as its own).
 *
 * With a user identity (creds file or nkey seed) the connection's inbox prefix is
 * `_INBOX.<user key>`: under the membrane an identity may subscribe only below its own
 * prefix, so nobody else can read its replies. `callerKey(nc)` is that key, for the call
 * subjects (client/call.ts).
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  errors as natsErrors,
  nkeyAuthenticator,
  nkeys,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { inboxPrefix } from './protocol.js';
import { credsSigner } from './creds-signer.js';

export type NatsConnectErrorCode = 'NATS_UNAVAILABLE' | 'NATS_AUTH_FAILED' | 'NATS_TLS_FAILED';

export class NatsConnectError extends Error {
  override name = 'NatsConnectError';
  constructor(
    readonly code: NatsConnectErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface NatsOptions {
  /** One URL, several, or several comma-separated in one string (the members of a NATS cluster). */
  servers: string | string[];
  token?: string;
  user?: string;
  pass?: string;
  /** An nkey seed (SU…), used to sign the server's nonce. */
  nkeySeed?: string;
  /** A `.creds` file holding a user JWT and its nkey seed. */
  credsFile?: string;
  /**
   * TLS: the CA bundle that signed the servers' certificates (Gantry's bus CA), and a client
   * certificate where a server asks for one. Given (or with a `tls://` URL), the connection
   * is refused by the client when a server does not offer TLS: it never falls back to plain text.
   */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /** How long the first connection may take (default 20000 ms, the client's default). */
  connectTimeoutMs?: number;
}

/** The server URLs of `--nats a,b,c` (or an array of them), trimmed, empty ones dropped. */
export function natsServers(servers: string | string[]): string[] {
  return (Array.isArray(servers) ? servers : [servers])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function natsConnectionOptions(o: NatsOptions): NodeConnectionOptions {
  const servers = natsServers(o.servers);
  if (servers.length === 0) throw new NatsConnectError('NATS_UNAVAILABLE', 'no NATS server URL given');
  const opts: NodeConnectionOptions = {
    servers,
    name: o.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  };
  if (o.connectTimeoutMs) opts.timeout = o.connectTimeoutMs;
  if (o.token) opts.token = o.token;
  if (o.user !== undefined) {
    opts.user = o.user;
    opts.pass = o.pass;
  }
  if (o.nkeySeed) {
    const seed = o.nkeySeed.trim();
    // Checked here: a malformed seed would otherwise fail deep in the handshake.
    if (!/^SU[A-Z2-7]{56}$/.test(seed))
      throw new NatsConnectError('NATS_AUTH_FAILED', 'nats.nkeySeed is not a user nkey seed (58 base32 characters starting with SU)');
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
    opts.inboxPrefix = inboxPrefix(nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey());
  }
  if (o.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(o.credsFile);
    } catch (e) {
      throw new NatsConnectError('NATS_AUTH_FAILED', `cannot read the NATS creds file ${o.credsFile}: ${(e as Error).message}`);
    }
    if (!/-----BEGIN NATS USER JWT-----/.test(Buffer.from(creds).toString('utf8'))) {
      throw new NatsConnectError('NATS_AUTH_FAILED', `${o.credsFile} is not a NATS creds file (no "BEGIN NATS USER JWT" block)`);
    }
    const text = Buffer.from(creds).toString('utf8');
    const userKey = credsUserKey(text, o.credsFile);
    opts.authenticator = nativeCredsAuthenticator(text, userKey, creds);
    opts.inboxPrefix = inboxPrefix(userKey);
    credsNotExpired(text, o.credsFile);
  }
  if (o.tls) {
    // The client reads these only once it meets a TLS server; say which file is missing up front.
    for (const [what, file] of Object.entries(o.tls)) {
      if (file === undefined) continue;
      try {
        accessSync(file, constants.R_OK);
      } catch (e) {
        throw new NatsConnectError('NATS_TLS_FAILED', `cannot read nats.tls.${what} ${file}: ${(e as Error).message}`);
      }
    }
    opts.tls = { ...o.tls };
  } else if (servers.some((s) => /^tls:\/\//i.test(s))) {
    // tls:// without a CA: the system's trust store; still TLS or nothing
    opts.tls = {};
  }
  return opts;
}

/**
 * Every membrane JWT expires (docs/security.md): say so, and how to renew, rather than let the
 * server answer "Authorization Violation".
 */
function credsNotExpired(text: string, where: string): void {
  const jwt = /-----BEGIN NATS USER JWT-----\r?\n([\w\-.=]+)/.exec(text)?.[1];
  let exp: unknown;
  try {
    exp = JSON.parse(Buffer.from(jwt!.split('.')[1], 'base64url').toString('utf8')).exp;
  } catch {
    return; // credsUserKey has said what is wrong with it
  }
  if (typeof exp === 'number' && exp * 1000 <= Date.now())
    throw new NatsConnectError(
      'NATS_AUTH_FAILED',
      `the creds in ${where} expired at ${new Date(exp * 1000).toISOString()}: renew them (\`gantry membrane admin-creds\` for admin creds — the sandbox writes fresh ones when it starts; \`gantry grant creds\` for a grant's)`,
    );
}

/** The user public key (U…) a .creds file's JWT is about (its `sub`). */
export function credsUserKey(text: string, where = 'the creds file'): string {
  const jwt = /-----BEGIN NATS USER JWT-----\r?\n([\w\-.=]+)/.exec(text)?.[1];
  let sub: unknown;
  try {
    sub = JSON.parse(Buffer.from(jwt!.split('.')[1], 'base64url').toString('utf8')).sub;
  } catch {
    sub = undefined;
  }
  if (typeof sub !== 'string' || !/^U[A-Z2-7]{55}$/.test(sub))
    throw new NatsConnectError('NATS_AUTH_FAILED', `${where} holds no user JWT with a user key as its subject`);
  return sub;
}

/** The user key a set of options authenticates as, if any (creds file or nkey seed). */
export function natsUserKey(o: NatsOptions): string | undefined {
  const p = natsConnectionOptions(o).inboxPrefix;
  return p?.startsWith('_INBOX.') ? p.slice('_INBOX.'.length) : undefined;
}

const callerKeys = new WeakMap<NatsConnection, string>();

/** The user key a connection made by connectNats authenticated as; undefined without one. */
export function callerKey(nc: NatsConnection): string | undefined {
  return callerKeys.get(nc);
}

const authRefusals = new WeakMap<NatsConnection, Error>();

/**
 * The last time the server refused this connection's credentials (expired, revoked), if it
 * did: the reason a connection closed is then not always that error (the client may close
 * on a later reconnect failure), but the refusal is what the caller needs to hear.
 */
export function authRefusal(nc: NatsConnection): Error | undefined {
  return authRefusals.get(nc);
}

export async function connectNats(o: NatsOptions): Promise<NatsConnection> {
  const opts = natsConnectionOptions(o);
  const nc = await connect(opts);
  if (opts.inboxPrefix) callerKeys.set(nc, opts.inboxPrefix.slice('_INBOX.'.length));
  watchLoss(nc); // from the start, so a loss before the first call is known to whenConnected
  void (async () => {
    for await (const s of nc.status()) {
      if (
        s.type === 'error' &&
        (s.error instanceof natsErrors.AuthorizationError || s.error instanceof natsErrors.UserAuthenticationExpiredError)
      )
        authRefusals.set(nc, s.error);
    }
  })().catch(() => {});
  return nc;
}

interface LossWatch {
  listeners: Set<(server: string) => void>;
  /** Set while the connection has lost its server and not yet reconnected; resolves on reconnect. */
  down?: { since: number; back: Promise<void>; resolve: () => void };
}
const lossWatches = new WeakMap<NatsConnection, LossWatch>();

function watchLoss(nc: NatsConnection): LossWatch {
  const w = lossWatches.get(nc);
  if (w) return w;
  const watch: LossWatch = { listeners: new Set() };
  lossWatches.set(nc, watch);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        if (!watch.down) {
          let resolve!: () => void;
          const back = new Promise<void>((r) => (resolve = r));
          watch.down = { since: Date.now(), back, resolve };
        }
        for (const l of [...watch.listeners]) l(s.server);
      } else if (s.type === 'reconnect' || s.type === 'close') {
        watch.down?.resolve();
        watch.down = undefined;
      }
    }
  })().catch(() => {});
  return watch;
}

/**
 * Call `fn` the next time this connection loses its server (the client then reconnects, to
 * another member of the cluster when there is one). Replies to requests sent before the loss
 * cannot arrive any more (the reply subscription lived on the lost server), so callers use
 * this to fail those requests at once. Returns the function that cancels the watch. The
 * first call starts watching the connection (whenConnected needs that too).
 */
export function onConnectionLost(nc: NatsConnection, fn: (server: string) => void): () => void {
  const watch = watchLoss(nc);
  watch.listeners.add(fn);
  return () => watch.listeners.delete(fn);
}

/**
 * Resolves true at once while the connection has a server (or is closed for good), else when
 * it has reconnected or closed, false if that takes longer than `timeoutMs`. A request published while reconnecting would
 * sit in the client's buffer and its reply could be lost in the switch, so callers wait here
 * first (client/call.ts).
 */
export async function whenConnected(nc: NatsConnection, timeoutMs: number): Promise<boolean> {
  const down = watchLoss(nc).down;
  // a closed connection is not coming back: the caller's request fails at once and says why
  // (credentials expired or revoked: FORBIDDEN)
  if (!down || nc.isClosed()) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), Math.max(0, timeoutMs));
  });
  try {
    return await Promise.race([down.back.then(() => true as const), nc.closed().then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Node's TLS error codes (certificate verification and handshake failures). */
const TLS_CODE = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME/;

/**
 * Why a first connection failed: NATS_AUTH_FAILED (the server refused
 * the credentials, or they are unusable), NATS_TLS_FAILED (the TLS handshake or certificate
 * check failed), NATS_UNAVAILABLE (anything else: refused, unreachable, timed out).
 */
export function connectError(e: unknown, o: NatsOptions): NatsConnectError {
  const servers = o.servers;
  if (e instanceof NatsConnectError) return e;
  const err = e as Error & { code?: string };
  const where = `NATS at ${String(servers)}`;
  const cause = (err as { cause?: unknown }).cause as (Error & { code?: string }) | undefined;
  if (
    err instanceof natsErrors.AuthorizationError ||
    err instanceof natsErrors.UserAuthenticationExpiredError ||
    /authorization violation|authentication (expired|timeout)|user authentication/i.test(err.message ?? '')
  ) {
    return new NatsConnectError('NATS_AUTH_FAILED', `${where} refused this host's credentials: ${err.message}`);
  }
  const tls = [err, cause].find((x) => x && ((x.code && TLS_CODE.test(x.code)) || /\btls\b|certificate/i.test(x.message ?? '')));
  if (tls) {
    return new NatsConnectError(
      'NATS_TLS_FAILED',
      `TLS with ${where} failed: ${tls.message}${tls.code ? ` (${tls.code})` : ''}; check nats.tls (caFile, certFile, keyFile)`,
    );
  }
  // A server that verifies client certificates closes a connection without one after the
  // handshake, and the client only notices at its connect timeout.
  if (err instanceof natsErrors.TimeoutError && o.tls && !o.tls.certFile) {
    return new NatsConnectError(
      'NATS_TLS_FAILED',
      `${where} did not answer after the TLS handshake within the connect timeout: if it verifies client certificates (tls verify), give nats.tls.certFile and keyFile`,
    );
  }
  return new NatsConnectError('NATS_UNAVAILABLE', `cannot connect to ${where}: ${err.message}`);
}

/** The native signer (creds-signer.ts); the client library's own where the seed cannot be read that way (it then says why). */
function nativeCredsAuthenticator(text: string, userKey: string, creds: Uint8Array): ReturnType<typeof credsAuthenticator> {
  try {
    return credsSigner(text, userKey);
  } catch {
    return credsAuthenticator(creds);
  }
}
