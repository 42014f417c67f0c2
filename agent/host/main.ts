/**
 * The provider host process: one per provider instance, forked by ProviderHost (supervisor.ts)
 * with an IPC channel. Lifecycle:
 *   spec (IPC) → validate → load library (ABI, capid) → configure, while NATS connects →
 *   configure_dispatch → subscribe → `ready` (IPC) → serve …
 *   SIGTERM / IPC stop / parent gone → drain subscriptions and in-flight calls → provider stop →
 *   close NATS → exit 0.
 * The process may be forked ahead of need (agent/host/pool.ts): it says `idle` once its code is
 * loaded and waits for its spec. The supervisor validated the spec in full before sending it
 * (spec-check.ts, kept out of this process: zod costs ~8 MiB of heap per host); here only the
 * fields dereferenced before anything else are re-checked, failing closed with BAD_SPEC.
 * Load errors are reported over IPC and end the process with HostExit.TERMINAL (restarting
 * cannot fix them). Losing NATS for good or hanging calls end it with a restartable status.
 * A crash inside the provider (SIGSEGV, SIGABRT) takes only this process down.
 * IPC `renew` (the agent rewrote the creds file with a renewed JWT): a second connection with
 * the new creds, the same subscriptions and queue groups on it, then the old subscriptions and
 * their in-flight calls drained and the old connection closed — no call is dropped.
 */
import { logger } from '../../runtime/log.js';
import { redactSecrets } from './redact.js';
import { HostError, HostExit, TERMINAL_CODES } from './errors.js';
import type { FromHost, ToHost } from './ipc.js';
import { NativeProvider } from './native.js';
import { openSealedLibrary, openVerifiedLibrary } from './verified-library.js';
import { loadLibc } from './libc.js';
import { connectError, connectNats } from './nats.js';
import { ActorDispatcher } from './dispatch.js';
import { InstanceServer } from './serve.js';
import { CallPool } from './call-pool.js';
import { CallReports } from './call-report.js';
import { CallStats } from './call-stats.js';
import { HealthMonitor } from './health.js';
import { DEFAULT_LIMITS, effectiveLimits, type HostLimits, type HostSpec } from './spec.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { startTracing, type Tracing } from '../../runtime/tracing/index.js';

let STOP_GRACE_MS = DEFAULT_LIMITS.stopGraceMs;

function send(m: FromHost, then?: () => void): void {
  if (process.connected && process.send) process.send(m, undefined, {}, () => then?.());
  else then?.();
}

/**
 * End the process. Node's exit waits for running thread-pool work, and a hung native call
 * never finishes, so with hung calls the process kills itself instead (measured: exit() with
 * one stuck koffi .async call never returns).
 */
function exitNow(status: number): never {
  if ((server?.stats.hung ?? 0) > 0 || health?.stuck) process.kill(process.pid, 'SIGKILL');
  process.exit(status);
}

let log = logger('provider-host');
let server: InstanceServer | undefined;
let dispatcher: ActorDispatcher | undefined;
let provider: NativeProvider | undefined;
let pool: CallPool | undefined;
let health: HealthMonitor | undefined;
let healthChanges: Promise<void> = Promise.resolve();
let nc: NatsConnection | undefined;
let exiting = false;
/** What `renew` needs to serve again: the spec and limits of this host. */
let serving: { spec: HostSpec; limits: Required<HostLimits> } | undefined;
/** Connections given up on purpose (renewed): their closing is not a loss. */
const retired = new WeakSet<NatsConnection>();
let renewing: Promise<void> | undefined;
/** From the spec on, one count for the host's life: a renewal's server counts on in it. */
let calls: CallStats | undefined;
let reports: CallReports | undefined;

async function shutdown(status: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  // Whatever happens below, this process ends.
  const force = setTimeout(() => exitNow(status), STOP_GRACE_MS * 2 + 1000);
  force.unref();
  health?.stop();
  try {
    await server?.drain(STOP_GRACE_MS);
    reports?.final(); // before the connection drains, so the last report goes out on it
    await pool?.close();
    dispatcher?.close();
    if (provider) {
      await Promise.race([provider.stop(), new Promise((r) => setTimeout(r, STOP_GRACE_MS))]);
    }
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc?.close());
    // the last calls' spans (runtime/tracing bounds the wait on an unreachable collector)
    await (await tracing.catch(() => undefined))?.shutdown();
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'error while stopping');
  }
  exitNow(status);
}

/** The values of the spec's secret config keys: no message of this host quotes them (a provider's configure error might). */
let secretValues: string[] = [];

function failed(e: unknown): never {
  const raw = e instanceof HostError ? e : new HostError('CRASHED', (e as Error)?.message ?? String(e));
  const err = new HostError(raw.code, redactSecrets(raw.message, secretValues));
  log.error({ code: err.code, err: err.message }, 'provider host failed');
  // Exit once the IPC message is flushed.
  send({ type: 'error', code: err.code, message: err.message }, () =>
    process.exit(TERMINAL_CODES.has(err.code) ? HostExit.TERMINAL : HostExit.RESTARTABLE),
  );
  throw err;
}

/** The fields used before anything else; the full check ran in the supervisor. */
function specProblem(spec: HostSpec | undefined): string | undefined {
  if (!spec || typeof spec !== 'object') return 'no spec';
  for (const k of ['libraryPath', 'namespace', 'provider', 'instance'] as const) {
    if (typeof spec[k] !== 'string' || spec[k].length === 0) return `${k}: expected a non-empty string`;
  }
  if (!spec.nats || typeof spec.nats !== 'object' || !spec.nats.servers) return 'nats.servers: required';
  return undefined;
}

/** ms spent in each start step, sent with `ready` (the agent's cold-start breakdown). */
const steps: Record<string, number> = {};
let stepAt = 0;
function step(name: string): void {
  const now = performance.now();
  steps[name] = Math.round((now - stepAt) * 10) / 10;
  stepAt = now;
}

async function run(spec: HostSpec): Promise<void> {
  stepAt = performance.now();
  const problem = specProblem(spec);
  if (problem) failed(new HostError('BAD_SPEC', `invalid host spec: ${problem}`));
  log = logger('provider-host', { namespace: spec.namespace, instance: spec.instance });
  secretValues = (spec.secretKeys ?? []).map((k) => spec.config?.[k]).filter((v): v is string => typeof v === 'string');
  const limits = effectiveLimits(spec);
  STOP_GRACE_MS = limits.stopGraceMs;
  // the NATS connection (credentials, TLS, the server's INFO) is made while the library loads,
  // not after it: a load that fails ends the process, connection and all, before it serves
  const connecting = startConnect(spec);
  await new Promise<void>((r) => setImmediate(r)); // the connect's first steps run before the load blocks this thread
  const loaded = loadProvider(spec);
  const conn = await connect(connecting);
  // counting starts with serving, not at boot: a pooled host may boot long before
  calls = new CallStats();
  const server = await serve(spec, limits, loaded, conn, calls);
  serving = { spec, limits };
  watchHealth(spec, loaded);
  reports = new CallReports({
    stats: server.calls,
    spec,
    log,
    send,
    connection: () => nc,
    serving: () => !exiting && !!server?.subscribed,
  });
  reports.start();
  const subjects = server.subjects().map((s) => s.subject);
  send({ type: 'ready', pid: process.pid, capabilityId: loaded.capabilityId, name: loaded.name, subjects, steps });
  log.info({ capid: loaded.capabilityId, subjects }, 'provider host ready');
}

/** Load the library (ABI version checked by the loader), check its capid, configure it. */
function loadProvider(spec: HostSpec): NativeProvider {
  try {
    // dlopen sees exactly the verified bytes: the agent's sealed memfd, or the file hashed here (verified-library.ts)
    const loadPath = spec.librarySealed
      ? openSealedLibrary().loadPath
      : spec.librarySha256
        ? openVerifiedLibrary(spec.libraryPath, spec.librarySha256).loadPath
        : spec.libraryPath;
    provider = NativeProvider.load(loadPath);
  } catch (e) {
    failed(e);
  }
  step('load');
  if (spec.expectedCapid && provider.capabilityId !== spec.expectedCapid) {
    failed(
      new HostError(
        'CAPID_MISMATCH',
        `${spec.libraryPath} implements "${provider.capabilityId}" but the archive declares capid "${spec.expectedCapid}"`,
      ),
    );
  }
  try {
    provider.configure(spec.config ?? {});
  } catch (e) {
    failed(e);
  }
  step('configure');
  return provider;
}

type Connecting = Promise<{ conn: NatsConnection } | { error: HostError }>;

/** Begin connecting to NATS once tracing is set up (a pooled host has it already); never rejects. */
function startConnect(spec: HostSpec): Connecting {
  return tracing.then(
    () =>
      openConnection(spec).then(
        (conn) => ({ conn }),
        (e) => ({ error: connectError(e, spec.nats) }),
      ),
    (e) => ({ error: new HostError('BAD_SPEC', `the host's tracing environment: ${(e as Error).message}`) }),
  );
}

/** The connection begun by startConnect; one that closes for good later ends the host (restartable). */
async function connect(connecting: Connecting): Promise<NatsConnection> {
  const t0 = performance.now();
  const r = await connecting;
  if ('error' in r) failed(r.error);
  nc = r.conn;
  // only the wait the load did not cover counts here: the rest of the connect ran during 'load'
  steps.connect = Math.round((performance.now() - t0) * 10) / 10;
  stepAt = performance.now();
  return nc;
}

/** A connection with the creds file as it is now, whose loss (unless retired) ends the host. */
async function openConnection(spec: HostSpec): Promise<NatsConnection> {
  const conn = await connectNats({ ...spec.nats, name: `gantry-host ${keyOf({ namespace: spec.namespace, name: spec.instance })}` });
  void conn.closed().then((err) => {
    if (exiting || retired.has(conn)) return;
    // Tell the supervisor why (e.g. credentials refused on reconnect), then go.
    const why = err ? connectError(err, spec.nats) : new HostError('NATS_UNAVAILABLE', 'the NATS connection closed');
    log.error({ code: why.code, err: why.message }, 'NATS connection closed');
    send({ type: 'error', code: why.code, message: `lost NATS: ${why.message}` }, () => void shutdown(HostExit.RESTARTABLE));
  });
  return conn;
}

/**
 * Serve on a new connection made with the rewritten creds file, then retire the old one:
 * both subscribe in the same queue groups (the instance subject too, so a call goes to one of
 * them), and the old subscriptions drain — requests already routed to them are answered — before
 * its connection closes.
 */
async function renew(): Promise<void> {
  const s = serving;
  if (!s || !nc || !server || !provider || !pool || !calls || exiting) return;
  const t0 = performance.now();
  let next: NatsConnection;
  try {
    next = await openConnection(s.spec);
  } catch (e) {
    const err = connectError(e, s.spec.nats);
    log.warn({ code: err.code, err: err.message }, 'cannot reconnect with the renewed credentials; serving on the old ones');
    return send({ type: 'renew-failed', code: err.code, message: err.message });
  }
  const nextServer = new InstanceServer(next, provider, s.spec, s.limits, log, (hung) => leaveHung(s.spec, hung), pool, calls);
  try {
    // an unhealthy instance stays out of the queue groups on its new connection too
    await nextServer.start(health ? !health.isHealthy : false);
  } catch (e) {
    retired.add(next);
    await next.close().catch(() => {});
    return send({ type: 'renew-failed', code: 'NATS_UNAVAILABLE', message: `cannot subscribe: ${(e as Error).message}` });
  }
  const old = { nc, server };
  retired.add(old.nc);
  nc = next;
  server = nextServer;
  dispatcher?.useConnection(next);
  // health may have changed while the new connection subscribed: follow it now
  if (health) void (health.isHealthy ? nextServer.resume() : nextServer.pause());
  await old.server.drain(STOP_GRACE_MS);
  await old.nc.drain().catch(() => old.nc.close());
  log.info({ ms: Math.round(performance.now() - t0) }, 'NATS credentials renewed');
  send({ type: 'renewed', ms: Math.round(performance.now() - t0) });
}

/** The dispatcher (configure_dispatch), the call threads, and the subscriptions that serve calls. */
async function serve(
  spec: HostSpec,
  limits: Required<HostLimits>,
  loaded: NativeProvider,
  conn: NatsConnection,
  counts: CallStats,
): Promise<InstanceServer> {
  dispatcher = new ActorDispatcher(conn, spec, log, {
    maxPending: limits.maxPendingDispatches,
    timeoutMs: limits.dispatchTimeoutMs,
    unreachableMs: limits.unreachableActorMs,
  });
  try {
    loaded.configureDispatch(dispatcher.dispatch);
  } catch (e) {
    failed(e);
  }
  pool = new CallPool(loaded.callFunctions(), limits.callThreads, (e) => {
    log.error({ err: e.message }, 'call thread failed');
    void shutdown(HostExit.RESTARTABLE);
  });
  const s = new InstanceServer(conn, loaded, spec, limits, log, (hung) => leaveHung(spec, hung), pool, counts);
  server = s;
  step('dispatch+threads');
  try {
    await s.start();
  } catch (e) {
    failed(new HostError('NATS_UNAVAILABLE', `cannot subscribe: ${(e as Error).message}`));
  }
  step('subscribe');
  return s;
}

/**
 * The provider's health extension, when the library has one (health.ts): while it is
 * unhealthy the host leaves its queue groups and tells the agent; failureThreshold failures in
 * a row end the host (restartable: the supervisor restarts it with backoff).
 */
function watchHealth(spec: HostSpec, loaded: NativeProvider): void {
  if (!loaded.hasHealth) return;
  health = new HealthMonitor(() => loaded.health(), spec.health, {
    readiness: (healthy, message) => {
      if (exiting) return;
      log.warn({ healthy, message }, healthy ? 'provider healthy again; serving calls' : 'provider unhealthy; left the queue groups');
      // one change at a time, told once done: `unhealthy` then means the server routes this host no new call
      healthChanges = healthChanges
        .then(() => (healthy ? server?.resume() : server?.pause()))
        .catch((e) => log.warn({ err: (e as Error).message }, 'cannot change the subscriptions'))
        .then(() => send({ type: 'health', healthy, message }));
    },
    liveness: (failures, message) => {
      if (exiting) return;
      const why = `${failures} health checks failed in a row; the last: ${message}`;
      log.error({ failures, message }, 'provider failed its liveness check; restarting');
      send({ type: 'error', code: 'LIVENESS_FAILED', message: why }, () => void shutdown(HostExit.LIVENESS_FAILED));
    },
  });
  health.start();
}

/** Calls stuck past their deadline: draining would wait on them; leave at once so the supervisor restarts us. */
function leaveHung(spec: HostSpec, hung: number): void {
  if (exiting) return;
  exiting = true;
  send({ type: 'error', code: 'HUNG', message: `${hung} calls stuck past their deadline in ${spec.libraryPath}` }, () =>
    exitNow(HostExit.HUNG),
  );
}

process.on('SIGTERM', () => void shutdown(HostExit.STOPPED));
process.on('SIGINT', () => void shutdown(HostExit.STOPPED));
process.on('disconnect', () => void shutdown(HostExit.ORPHANED));

process.on('message', (m: ToHost) => {
  if (m?.type === 'spec') {
    run(m.spec).catch(() => {
      /* reported by failed() */
    });
  } else if (m?.type === 'renew') {
    // one renewal at a time; one asked for during another runs after it (the file may be newer)
    const prev = renewing ?? Promise.resolve();
    renewing = prev.then(renew).catch((e) => log.warn({ err: (e as Error).message }, 'renewal failed'));
  } else if (m?.type === 'stop') {
    void shutdown(HostExit.STOPPED);
  }
});

if (!process.send) {
  process.stderr.write('gantry provider host: must be started by the agent with an IPC channel\n');
  process.exit(2);
}
/**
 * Tracing (OTEL_*, passed on by the agent) starts while a pooled host waits for its spec, so
 * loading the SDK adds nothing to an instance's start; run() waits for it before it connects.
 */
const tracing: Promise<Tracing> = startTracing('gantry-host');
tracing.catch(() => {}); // reported by run()
// code loaded, handlers installed: a pooled host now waits here for its spec
send({ type: 'idle' });
// bind libc's calls (koffi) now, while idle, rather than in the start that receives a sealed library
setImmediate(() => loadLibc());
