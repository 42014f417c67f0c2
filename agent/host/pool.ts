/**
 * HostPool: a few provider host processes forked ahead of need (a zygote pool), so that an
 * instance's start does not pay for booting Node.js and loading the host's modules — about
 * 300–450 ms on two cores, most of a cold start (docs/agent.md has the numbers).
 *
 * A pooled host is an ordinary agent/host/main process that has loaded its code and waits for
 * its spec on the IPC channel; it has not seen any library yet. A ProviderHost claims one, sends
 * it the spec, and from then on supervises it exactly like a host it forked itself: the library
 * reaches it as a descriptor on the agent's sealed memfd of the verified bytes, over the
 * socket it was given at fd 4 (library-channel.ts; so what is loaded is exactly what was
 * verified), and each instance still has its own process (a crash
 * takes down only that instance). The pool only moves the fork earlier.
 *
 *   - acquire() hands out only a live, connected process: a warm idle one at once, else the next
 *     one to finish booting (more instances than pooled hosts still start). Every host of the
 *     agent is forked here, at most maxConcurrentBoots at a time, so a burst of starts queues
 *     instead of starving the node.
 *   - a pooled host that dies while idle is dropped and replaced (never handed out); replacements
 *     of hosts that keep dying back off (doubling, capped) so a broken install cannot fork-loop.
 *   - refills wait refillDelayMs, so a refill does not compete for CPU with the instance that
 *     has just claimed a host.
 *   - pooled hosts carry the same environment as the hosts the agent forks (the records marker,
 *     agent/host-records.ts), so an agent that restarts reaps idle ones too; a pooled host whose
 *     agent dies exits by itself when its IPC channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { distEntry } from '../../runtime/paths.js';
import { logger } from '../../runtime/log.js';

/**
 * V8 flags of every host process: a 1 MiB young-generation semi-space instead of the default
 * (up to 16 MiB), since a host's own JS allocates little (payload bytes live outside the heap).
 * Measured: −2 MiB PSS per idle host; relay throughput in bench/host-calls unchanged.
 */
export const HOST_EXEC_ARGV: readonly string[] = ['--max-semi-space-size=1'];

/** The libuv thread count a host needs for its limits (koffi's async calls run on that pool). */
export function hostThreadpoolSize(maxHungCalls: number): number {
  return Math.min(128, 4 + maxHungCalls);
}

/**
 * Fork one host process (agent/host/main) with an IPC channel; it waits for its spec. Its fd 4
 * is its library channel: one end of a Unix socket pair (what libuv makes for a 'pipe'), over
 * which the agent passes the sealed library descriptor just before the spec (libraryChannelOf).
 */
export function forkHostProcess(env: NodeJS.ProcessEnv | undefined, threadpoolSize: number): ChildProcess {
  return fork(distEntry('agent/host/main'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'],
    execArgv: [...HOST_EXEC_ARGV],
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpoolSize), ...env },
    serialization: 'json',
  });
}

/** Idle hosts an agent keeps ready unless told otherwise (`--host-pool`). */
export const DEFAULT_HOST_POOL_SIZE = 2;

export interface HostPoolOptions {
  /** Idle hosts kept ready (0: none kept; hosts are still forked through the pool, throttled). */
  size: number;
  /** Added to each pooled host's environment (the agent's records marker). */
  env?: NodeJS.ProcessEnv;
  /** The libuv thread count of pooled hosts; a spec needing another count forks its own host. */
  threadpoolSize: number;
  /**
   * Hosts booting at once (default: the CPU count, at least 2). A burst of starts (`kubectl
   * scale --replicas=50`) then boots hosts a few at a time instead of 50 Node.js processes
   * fighting for two cores until they all miss their start timeout.
   */
  maxConcurrentBoots?: number;
  /** Wait before forking a replacement (default 250 ms). */
  refillDelayMs?: number;
  /** Cap of the backoff between replacements of hosts that died while idle (default 30 s). */
  maxRefillDelayMs?: number;
}

interface Pooled {
  child: ChildProcess;
  /** It said `idle`: its modules are loaded. */
  warm: boolean;
  onExit: () => void;
  onMessage: (m: unknown) => void;
}

/** A host handed out: `pooled` when it was idle and warm at the time of asking. */
export interface AcquiredHost {
  child: ChildProcess;
  pooled: boolean;
}

export class HostPool {
  /** processes the pool owns: warm ones wait for a spec, cold ones are booting */
  private owned: Pooled[] = [];
  private waiters: Array<{ resolve: (h: AcquiredHost) => void; reject: (e: Error) => void }> = [];
  private refillTimer?: NodeJS.Timeout;
  private idleDeaths = 0;
  private stopped = false;
  private readonly maxBoots: number;
  private readonly log = logger('host-pool');

  constructor(readonly opts: HostPoolOptions) {
    this.maxBoots = opts.maxConcurrentBoots ?? Math.max(2, availableParallelism());
  }

  /** Fill the pool. */
  start(): void {
    this.pump();
  }

  get threadpoolSize(): number {
    return this.opts.threadpoolSize;
  }

  /** Pids of the processes the pool holds, warm or booting (for diagnostics and tests). */
  idlePids(): number[] {
    return this.owned.map((p) => p.child.pid!).filter((pid) => pid !== undefined);
  }

  /** Idle hosts that have finished loading their code. */
  get warmCount(): number {
    return this.owned.filter((p) => p.warm && alive(p.child)).length;
  }

  /**
   * A host process for a spec needing `threadpoolSize` libuv threads: a warm idle one at once,
   * else the next one to finish booting (at most maxConcurrentBoots boot at a time). A spec
   * needing another thread count gets a process forked for it alone.
   */
  acquire(threadpoolSize: number): Promise<AcquiredHost> {
    if (this.stopped) return Promise.reject(new Error('the host pool is stopped'));
    if (threadpoolSize !== this.opts.threadpoolSize)
      return Promise.resolve({ child: forkHostProcess(this.opts.env, threadpoolSize), pooled: false });
    const warm = this.takeWarm();
    if (warm) {
      this.scheduleRefill();
      return Promise.resolve({ child: warm, pooled: true });
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.pump();
    });
  }

  /** Kill the idle hosts, refuse waiting requests, stop refilling. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    for (const w of this.waiters.splice(0)) w.reject(new Error('the host pool is stopped'));
    const all = this.owned.splice(0);
    await Promise.all(
      all.map(async (p) => {
        p.child.off('exit', p.onExit);
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
        p.child.kill('SIGKILL');
        await exited;
      }),
    );
  }

  private takeWarm(): ChildProcess | undefined {
    for (;;) {
      const i = this.owned.findIndex((p) => p.warm);
      if (i < 0) return undefined;
      const [p] = this.owned.splice(i, 1);
      this.detach(p!);
      // died in the instant before its exit event: never handed out
      if (!alive(p!.child)) continue;
      this.idleDeaths = 0;
      return p!.child;
    }
  }

  private detach(p: Pooled): void {
    p.child.off('exit', p.onExit);
    p.child.off('message', p.onMessage);
  }

  /** Boot processes for the waiters and the idle target, a few at a time. */
  private pump(): void {
    this.refillTimer = undefined;
    if (this.stopped) return;
    const booting = () => this.owned.filter((p) => !p.warm).length;
    while (booting() < this.maxBoots && this.owned.length < this.opts.size + this.waiters.length) this.add();
  }

  private add(): void {
    const child = forkHostProcess(this.opts.env, this.opts.threadpoolSize);
    const p: Pooled = {
      child,
      warm: false,
      onMessage: (m) => {
        if ((m as { type?: string })?.type !== 'idle') return;
        p.warm = true;
        const w = this.waiters.shift();
        if (w) {
          this.owned = this.owned.filter((q) => q !== p);
          this.detach(p);
          this.idleDeaths = 0;
          w.resolve({ child, pooled: false });
        }
        this.pump();
      },
      onExit: () => {
        // died before it was handed out: drop it, and replace it after a backoff that grows while they keep dying
        this.owned = this.owned.filter((q) => q !== p);
        this.idleDeaths++;
        this.log.warn(
          { pid: child.pid, code: child.exitCode, signal: child.signalCode },
          'an idle pooled provider host died; replacing it',
        );
        this.scheduleRefill();
      },
    };
    child.on('message', p.onMessage);
    child.once('exit', p.onExit);
    child.on('error', () => {
      /* reported through exit */
    });
    this.owned.push(p);
  }

  private scheduleRefill(): void {
    if (this.stopped || this.refillTimer) return;
    const base = this.opts.refillDelayMs ?? 250;
    const delay = Math.min(this.opts.maxRefillDelayMs ?? 30_000, base * 2 ** Math.min(this.idleDeaths, 10));
    this.refillTimer = setTimeout(() => this.pump(), delay);
    this.refillTimer.unref();
  }
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null && c.connected;
}
