/**
 * The host keeper (`gantry host-keeper`): the parent of every provider host on its node. It runs
 * each host as the agent used to (a ProviderHost: its backoff restarts, memory cap, stop
 * grace), but it outlives agents: an agent connects over a Unix socket, and the hosts keep
 * serving NATS while no agent is connected. The next agent's `start` of an instance the keeper
 * already runs with the same spec digest adopts it (no new process). Hosts no agent has
 * connected for `orphanGraceMs` are stopped: by then the controller has called the node lost
 * and placed their instances elsewhere.
 *
 * It needs no Kubernetes credentials and holds no key: a host reads the creds file the agent
 * wrote for it. The socket is 0600 in a directory the keeper makes 0700 (protocol.ts).
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { type Logger, logger } from '../../runtime/log.js';
import { HostError } from '../host/errors.js';
import type { MemoryCgroupParent } from '../host/memory-cgroup-dir.js';
import { HostPool, hostThreadpoolSize } from '../host/pool.js';
import { DEFAULT_LIMITS } from '../host/spec.js';
import { ProviderHost } from '../host/supervisor.js';
import { HostRecords } from '../host-records.js';
import { type HostEvent, type KeptHost, PROTOCOL_VERSION, type Reply, type Request } from './protocol.js';
import { readLines, specDigest, writeLine } from './wire.js';

export interface KeeperOptions {
  socketPath: string;
  node: string;
  /** Stop every host after this long without an agent (default 120 s; 0: never). */
  orphanGraceMs?: number;
  /** Idle host processes kept started (default 2). */
  hostPoolSize?: number;
  memoryCgroup?: MemoryCgroupParent;
  /**
   * Where the keeper records its hosts' pids (agent/host-records.ts; default `hosts/` beside the
   * socket): a keeper that restarts reaps what its predecessor left before it serves, so an
   * instance never has two hosts.
   */
  recordsDir?: string;
}

interface Kept {
  uid: string;
  digest: string;
  host: ProviderHost;
  /** Settles with the first start (resolved: ready; rejected: its HostError). */
  started: Promise<void>;
}

export class HostKeeper {
  private readonly hosts = new Map<string, Kept>();
  private agent?: Socket;
  private server?: Server;
  private orphanTimer?: NodeJS.Timeout;
  private readonly pool: HostPool;
  private readonly log: Logger;
  private readonly records: HostRecords;

  constructor(private readonly opts: KeeperOptions) {
    // Stryker disable next-line StringLiteral,ObjectLiteral: the logger's name and fields only label its lines
    this.log = logger('host-keeper', { node: opts.node });
    this.records = new HostRecords(opts.recordsDir ?? join(dirname(opts.socketPath), 'hosts'));
    this.pool = new HostPool({
      size: opts.hostPoolSize ?? 2,
      env: this.records.markerEnv(),
      threadpoolSize: hostThreadpoolSize(DEFAULT_LIMITS.maxHungCalls),
    });
  }

  async listen(): Promise<void> {
    const path = this.opts.socketPath;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const reaped = await this.records.reapAll();
    // Stryker disable next-line ConditionalExpression: whether the reaping is logged
    if (reaped.length) this.log.warn({ reaped: reaped.length }, 'stopped the hosts a previous keeper left');
    rmSync(path, { force: true }); // a socket file left by a keeper that died
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      // a listen failure (EACCES, EADDRINUSE) rejects instead of throwing from an event; as root, as the tests run, none can be caused
      // Stryker disable next-line StringLiteral
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    this.server = server;
    this.pool.start();
    // no host can exist before an agent has connected (a restart reaped its predecessor's): arming it here only says so
    // Stryker disable next-line CallExpression
    this.armOrphanTimer();
    this.log.info({ socket: path }, 'host keeper listening');
  }

  /** What runs now (for `list` and tests). */
  list(): KeptHost[] {
    return [...this.hosts.values()].map((k) => describe(k));
  }

  /** Stop every host gracefully, then the pool and the socket. */
  async close(): Promise<void> {
    // a timer that fires after close finds no host to stop (the map is cleared below)
    // Stryker disable next-line ConditionalExpression,CallExpression
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    this.server?.close();
    this.agent?.destroy();
    await Promise.allSettled([...this.hosts.values()].map((k) => k.host.stop()));
    this.hosts.clear();
    await this.pool.stop();
    rmSync(this.opts.socketPath, { force: true });
  }

  private accept(socket: Socket): void {
    readLines(
      socket,
      (m) => {
        const r = m as Request;
        if (typeof r?.id !== 'number' || typeof r.op !== 'string') return this.refuse(socket, 0, 'KEEPER_BAD_REQUEST', 'not a request');
        if (r.op === 'hello') {
          if (r.version !== PROTOCOL_VERSION) {
            const why = `this keeper speaks protocol ${PROTOCOL_VERSION}, the agent ${String(r.version)} (docs/upgrades.md, version skew)`;
            this.refuse(socket, r.id, 'KEEPER_VERSION_MISMATCH', why);
            return void socket.end();
          }
          this.takeOver(socket);
          return writeLine(socket, { id: r.id, ok: true, version: PROTOCOL_VERSION, hosts: this.list() } satisfies Reply);
        }
        // only the agent that said hello last is answered (a takeover closes the one before)
        if (this.agent !== socket) return this.refuse(socket, r.id, 'KEEPER_NO_HELLO', 'say hello first (or another agent took over)');
        this.handle(socket, r).catch((e: Error) => this.refuse(socket, r.id, (e as HostError).code ?? 'KEEPER_BAD_REQUEST', e.message));
      },
      (why) => {
        // Stryker disable next-line StringLiteral,ObjectLiteral: a log line
        this.log.warn({ why }, 'closing a keeper connection');
        socket.destroy();
      },
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.agent !== socket) return;
      this.agent = undefined;
      // Stryker disable next-line StringLiteral,ObjectLiteral: a log line
      this.log.warn({ hosts: this.hosts.size }, 'the agent went away; its hosts keep serving until the next one adopts them');
      this.armOrphanTimer();
    });
  }

  /** The newest agent is the only one: its predecessor (if its socket still stands) is closed. */
  private takeOver(socket: Socket): void {
    const previous = this.agent;
    this.agent = socket;
    clearTimeout(this.orphanTimer); // an agent back within the grace keeps every host
    this.orphanTimer = undefined;
    if (previous && previous !== socket) previous.destroy(); // a second hello on the same connection keeps it
    this.log.info({ hosts: this.hosts.size }, 'an agent connected');
  }

  /** Called only while no agent is connected (at listen, and when the agent's socket closes); takeOver() disarms it. */
  private armOrphanTimer(): void {
    const grace = this.opts.orphanGraceMs ?? 120_000;
    if (grace <= 0) return; // 0: hosts wait for an agent however long it takes
    this.orphanTimer = setTimeout(() => {
      // Stryker disable next-line StringLiteral,ObjectLiteral: a log line
      this.log.warn({ hosts: this.hosts.size, graceMs: grace }, 'no agent came back; stopping its hosts');
      for (const k of [...this.hosts.values()]) void this.stopHost(k);
    }, grace);
    // Stryker disable next-line CallExpression: only whether a timer alone may keep the process up; the socket server does anyway
    this.orphanTimer.unref();
  }

  private async handle(socket: Socket, r: Request): Promise<void> {
    const reply = (m: Omit<Extract<Reply, { ok: true }>, 'id' | 'ok'> = {}) => writeLine(socket, { id: r.id, ok: true, ...m });
    switch (r.op) {
      case 'list':
        return reply({ hosts: this.list() });
      case 'start':
        return reply({ host: await this.start(r) });
      case 'stop': {
        const k = this.hosts.get(r.uid);
        if (k) await this.stopHost(k);
        return reply();
      }
      case 'renew': {
        const k = this.hosts.get(r.uid);
        if (!k) throw Object.assign(new Error(`no host for instance uid ${r.uid}`), { code: 'KEEPER_UNKNOWN_HOST' });
        await k.host.renewCredentials();
        return reply();
      }
      default: // refused as KEEPER_BAD_REQUEST, the code of an error without one
        throw new Error(`unknown op ${(r as { op: string }).op}`);
    }
  }

  /** Adopt the running host of this uid when its spec is the same; else (re)start it. Resolves once it is ready. */
  private async start(r: Extract<Request, { op: 'start' }>): Promise<KeptHost> {
    if (typeof r.uid !== 'string' || !r.uid || !r.spec) throw new Error('start needs uid and spec'); // KEEPER_BAD_REQUEST
    const digest = specDigest(r.spec);
    const existing = this.hosts.get(r.uid);
    if (existing && existing.digest === digest && existing.host.state !== 'failed' && existing.host.state !== 'stopped') {
      await existing.started;
      this.log.info({ instance: r.spec.instance, pid: existing.host.pid }, 'adopted a running host');
      return { ...describe(existing), adopted: true };
    }
    if (existing) {
      // no longer this uid's host: its last events ('stopped') would reach the agent's new host of the uid
      this.hosts.delete(r.uid);
      await this.stopHost(existing);
    }
    const o = r.options ?? {};
    // an option left undefined is the ProviderHost's default, as when it is absent
    const host = new ProviderHost(r.spec, {
      env: this.records.markerEnv(),
      pool: this.pool,
      memoryLimitBytes: o.memoryLimitBytes,
      memoryCheckMs: o.memoryCheckMs,
      startTimeoutMs: o.startTimeoutMs,
      memoryCgroup: this.opts.memoryCgroup,
    });
    const kept: Kept = { uid: r.uid, digest, host, started: Promise.resolve() };
    this.forward(kept);
    kept.started = host.start(); // awaited below in the same turn: its rejection is always handled
    this.hosts.set(r.uid, kept);
    try {
      await kept.started;
    } catch (e) {
      // another start may have replaced it meanwhile (it deletes before it stops, so in practice the
      // entry is already gone): never delete a successor
      // Stryker disable next-line ConditionalExpression,StringLiteral: see above; host.start() rejects only with a HostError
      if (this.hosts.get(r.uid) === kept) this.hosts.delete(r.uid);
      throw e instanceof HostError ? e : new HostError('CRASHED', (e as Error).message);
    }
    return describe(kept);
  }

  private async stopHost(k: Kept): Promise<void> {
    await k.host.stop();
    // a start replacing k deletes it before stopping it, and its stop resolves before that start
    // sets the successor: the guard only keeps a later change from deleting one
    // Stryker disable next-line ConditionalExpression
    if (this.hosts.get(k.uid) === k) this.hosts.delete(k.uid);
  }

  /**
   * Every event of the uid's current host goes to whichever agent is connected when it happens;
   * a host replaced under the same uid says nothing more (the agent knows the uid, not the host).
   */
  private forward(k: Kept): void {
    const send = (e: HostEvent) => {
      if (this.agent && this.hosts.get(k.uid) === k) writeLine(this.agent, e);
    };
    const uid = k.uid;
    const h = k.host;
    const ref = { uid, namespace: h.spec.namespace, name: h.spec.instance };
    h.on('spawned', (pid: number) => {
      this.records.write({ ...ref, pid }); // at fork: a keeper killed while its host starts leaves a record
      send({ event: 'spawned', uid, pid });
    });
    h.on('ready', () => send({ event: 'ready', uid, pid: h.pid }));
    h.on('health', (healthy: boolean, message: string) => send({ event: 'health', uid, healthy, message }));
    h.on('calls', (stats) => send({ event: 'calls', uid, stats }));
    h.on('crash', (c) => send({ event: 'crash', uid, ...c, signal: c.signal ?? null }));
    h.on('failed', (e: HostError) => {
      this.records.remove(uid);
      send({ event: 'failed', uid, code: e.code, message: e.message });
    });
    h.on('renewed', (ms: number) => send({ event: 'renewed', uid, ms }));
    h.on('stopped', () => {
      this.records.remove(uid); // a replacement of this uid is forked only after this one stopped
      send({ event: 'stopped', uid });
    });
  }

  private refuse(socket: Socket, id: number, code: string, message: string): void {
    writeLine(socket, { id, ok: false, code, message } satisfies Reply);
  }
}

function describe(k: Kept): KeptHost {
  const h = k.host;
  return {
    uid: k.uid,
    namespace: h.spec.namespace,
    instance: h.spec.instance,
    specDigest: k.digest,
    state: h.state,
    pid: h.pid, // undefined between incarnations: JSON leaves it out
    restartCount: h.restartCount,
    healthy: h.health.healthy,
  };
}
