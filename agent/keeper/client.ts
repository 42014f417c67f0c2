/**
 * The agent's side of the host keeper (protocol.ts): one connection per agent, and a
 * KeeperHost per instance that looks to the InstanceRunner like a ProviderHost (the same
 * events), but whose process lives in the keeper. `start()` of an instance the keeper already
 * runs with the same spec adopts it: it resolves at once and the host's pid stays.
 *
 * When the agent stops it detaches: its hosts keep serving and the next agent adopts them. If
 * the keeper itself goes away its hosts went with it: the agent says so (`lost`) and exits, so
 * that its restart meets the new keeper with a clean slate.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Logger } from '../../runtime/log.js';
import { HostError } from '../host/errors.js';
import type { HostSpec } from '../host/spec.js';
import type { HostCrash, SupervisedHost } from '../instance-runner.js';
import type { HostStartTimings } from '../start-trace.js';
import { type HostEvent, type KeeperHostOptions, type KeptHost, PROTOCOL_VERSION, type Reply, type Request } from './protocol.js';
import { readLines, writeLine } from './wire.js';

type Pending = { resolve: (r: Extract<Reply, { ok: true }>) => void; reject: (e: HostError) => void };
type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class KeeperClient extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly hosts = new Map<string, KeeperHost>();
  private detached = false;
  /** The keeper closed the connection while this agent still used it (it died, or a newer agent took over). */
  wasLost = false;
  /** What the keeper ran when this agent connected (adoption candidates). */
  found: KeptHost[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly log: Logger,
  ) {
    super();
  }

  /** Connect and say hello; retries a missing socket for up to `waitMs` (the keeper's pod may start after the agent's). */
  static async connect(path: string, node: string, log: Logger, waitMs = 60_000): Promise<KeeperClient> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const socket = await open(path);
        const c = new KeeperClient(socket, log);
        c.listen();
        const hello = await c.request({ op: 'hello', version: PROTOCOL_VERSION, node });
        c.found = hello.hosts ?? [];
        log.info({ socket: path, running: c.found.length }, 'connected to the host keeper');
        return c;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() >= deadline) throw keeperError(path, e as Error);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  host(uid: string, spec: HostSpec, options: KeeperHostOptions): KeeperHost {
    const h = new KeeperHost(this, uid, spec, options);
    this.hosts.set(uid, h);
    return h;
  }

  /** From now on stop() of a host leaves it running (the agent is going; the next one adopts it). */
  detach(): void {
    this.detached = true;
  }
  get isDetached(): boolean {
    return this.detached;
  }

  close(): void {
    this.socket.end();
  }

  request(body: RequestBody): Promise<Extract<Reply, { ok: true }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) return reject(new HostError('CRASHED', 'the host keeper connection is closed'));
      this.pending.set(id, { resolve, reject });
      writeLine(this.socket, { ...body, id });
    });
  }

  /** Stop the hosts the keeper runs whose instance `keep` does not name (deleted, or moved while no agent ran). */
  async sweep(keep: (uid: string) => boolean): Promise<string[]> {
    const { hosts = [] } = await this.request({ op: 'list' });
    const strays = hosts.filter((h) => !keep(h.uid));
    for (const h of strays) {
      this.log.info({ instance: `${h.namespace}/${h.instance}`, pid: h.pid }, 'stopping a host no instance of this node claims');
      await this.request({ op: 'stop', uid: h.uid });
    }
    return strays.map((h) => h.uid);
  }

  forget(uid: string, h: KeeperHost): void {
    if (this.hosts.get(uid) === h) this.hosts.delete(uid);
  }

  private listen(): void {
    readLines(
      this.socket,
      (m) => this.receive(m as Reply | HostEvent),
      (why) => this.socket.destroy(new Error(why)),
    );
    this.socket.on('error', (e) => this.log.warn({ err: e.message }, 'host keeper connection error'));
    this.socket.on('close', () => {
      for (const p of this.pending.values()) p.reject(new HostError('CRASHED', 'the host keeper connection closed'));
      this.pending.clear();
      if (this.detached) return;
      this.wasLost = true;
      this.emit('lost');
    });
  }

  private receive(m: Reply | HostEvent): void {
    if ('event' in m) return void this.hosts.get(m.uid)?.onEvent(m);
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m);
    else p.reject(new HostError(m.code, m.message));
  }
}

export class KeeperHost extends EventEmitter implements SupervisedHost {
  private _pid?: number;
  private restartsSeen = 0;
  private restartsAtAttach = 0;
  private _adopted = false;
  private _startTimings?: HostStartTimings;
  private stopped = false;

  constructor(
    private readonly keeper: KeeperClient,
    readonly uid: string,
    readonly spec: HostSpec,
    private readonly options: KeeperHostOptions,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this._pid;
  }
  /** Restarts since this agent attached (an adopted host's earlier ones are in the instance's status already). */
  get restartCount(): number {
    return this.restartsSeen - this.restartsAtAttach;
  }
  get startTimings(): HostStartTimings | undefined {
    return this._startTimings;
  }
  /** True when start() found the host already running and took it over. */
  get adopted(): boolean {
    return this._adopted;
  }

  async start(): Promise<void> {
    const began = performance.now();
    const r = await this.keeper.request({ op: 'start', uid: this.uid, spec: this.spec, options: this.options });
    const h = r.host;
    this._pid = h?.pid;
    this.restartsSeen = h?.restartCount ?? 0;
    this.restartsAtAttach = this.restartsSeen;
    this._adopted = h?.adopted === true;
    this._startTimings = { pooled: false, totalMs: performance.now() - began, steps: { adopted: this._adopted ? 1 : 0 } };
    // the runner counts Running from 'ready'; a started host already sent its own, an adopted one sends none
    if (this._adopted) this.emit('ready');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.keeper.forget(this.uid, this);
    if (this.keeper.isDetached) return; // the agent is going: the host stays for the next one
    await this.keeper.request({ op: 'stop', uid: this.uid }).catch(() => {});
  }

  async renewCredentials(): Promise<void> {
    await this.keeper.request({ op: 'renew', uid: this.uid });
  }

  onEvent(e: HostEvent): void {
    switch (e.event) {
      case 'spawned':
        this._pid = e.pid;
        return void this.emit('spawned', e.pid);
      case 'ready':
        if (e.pid !== undefined) this._pid = e.pid;
        return void this.emit('ready');
      case 'health':
        return void this.emit('health', e.healthy, e.message);
      case 'calls':
        return void this.emit('calls', e.stats);
      case 'crash': {
        this.restartsSeen = e.restartCount;
        this._pid = undefined;
        const crash: HostCrash = {
          code: e.code,
          signal: e.signal,
          restartCount: e.restartCount,
          nextDelayMs: e.nextDelayMs,
          error: e.error,
        };
        return void this.emit('crash', crash);
      }
      case 'failed':
        this._pid = undefined;
        return void this.emit('failed', new HostError(e.code, e.message));
      case 'renewed':
        return void this.emit('renewed', e.ms);
      case 'stopped':
        this._pid = undefined;
        return void this.emit('stopped');
    }
  }
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function keeperError(path: string, e: Error): Error {
  if (e instanceof HostError) return e;
  return new HostError('KEEPER_UNREACHABLE', `cannot reach the host keeper at ${path}: ${e.message}`);
}
