/**
 * HostPool: a few provider host processes forked ahead of need (a zygote pool), so that an
 * instance's start does not pay for booting Node.js and loading the host's modules — about
 * 300–450 ms on two cores, most of a cold start (docs/agent.md has the numbers).
 *
 * A pooled host is an ordinary agent/host/main process that has loaded its code and waits for
 * its spec on the IPC channel; it has not seen any library yet. A ProviderHost claims one, sends
 * it the spec, and from then on supervises it exactly like a host it forked itself: the library
 * is still opened from the sealed memfd of the verified bytes in that process (so what is
 * loaded is exactly what was verified), and each instance still has its own process (a crash
 * takes down only that instance). The pool only moves the fork earlier.
 *
 *   - claim() hands out only a live, connected process; when the pool is empty it returns
 *     undefined and the caller forks a fresh host (more instances than pooled hosts still start).
 *   - a pooled host that dies while idle is dropped and replaced (never handed out); replacements
 *     of hosts that keep dying back off (doubling, capped) so a broken install cannot fork-loop.
 *   - refills wait refillDelayMs, so a refill does not compete for CPU with the instance that
 *     has just claimed a host.
 *   - pooled hosts carry the same environment as the hosts the agent forks (the records marker,
 *     agent/host-records.ts), so an agent that restarts reaps idle ones too; a pooled host whose
 *     agent dies exits by itself when its IPC channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
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

/** Fork one host process (agent/host/main) with an IPC channel; it waits for its spec. */
export function forkHostProcess(env: NodeJS.ProcessEnv | undefined, threadpoolSize: number): ChildProcess {
  return fork(distEntry('agent/host/main'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...HOST_EXEC_ARGV],
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpoolSize), ...env },
    serialization: 'json',
  });
}

export interface HostPoolOptions {
  /** Idle hosts kept ready (0 disables the pool). */
  size: number;
  /** Added to each pooled host's environment (the agent's records marker). */
  env?: NodeJS.ProcessEnv;
  /** The libuv thread count of pooled hosts; a spec needing another count forks its own host. */
  threadpoolSize: number;
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

export class HostPool {
  private idle: Pooled[] = [];
  private refillTimer?: NodeJS.Timeout;
  private idleDeaths = 0;
  private stopped = false;
  private readonly log = logger('host-pool');

  constructor(readonly opts: HostPoolOptions) {}

  /** Fill the pool. */
  start(): void {
    this.fill();
  }

  get threadpoolSize(): number {
    return this.opts.threadpoolSize;
  }

  /** Pids of the idle hosts (for diagnostics and tests). */
  idlePids(): number[] {
    return this.idle.map((p) => p.child.pid!).filter((pid) => pid !== undefined);
  }

  /** Idle hosts that have finished loading their code. */
  get warmCount(): number {
    return this.idle.filter((p) => p.warm && alive(p.child)).length;
  }

  /**
   * Take an idle host for a spec needing `threadpoolSize` libuv threads, or undefined (pool
   * empty, stopped, or another thread count): then the caller forks its own.
   */
  claim(threadpoolSize: number): ChildProcess | undefined {
    if (this.stopped || threadpoolSize !== this.opts.threadpoolSize) return undefined;
    // warm ones first: a host still loading its modules is claimed only when no warm one is left
    this.idle.sort((a, b) => Number(b.warm) - Number(a.warm));
    while (this.idle.length) {
      const p = this.idle.shift()!;
      p.child.off('exit', p.onExit);
      p.child.off('message', p.onMessage);
      if (!alive(p.child)) continue; // died in the instant before its exit event: never handed out
      this.idleDeaths = 0;
      this.scheduleRefill();
      return p.child;
    }
    this.scheduleRefill();
    return undefined;
  }

  /** Kill the idle hosts and stop refilling. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    const all = this.idle.splice(0);
    await Promise.all(all.map(async (p) => {
      p.child.off('exit', p.onExit);
      if (!alive(p.child)) return;
      const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
      p.child.kill('SIGKILL');
      await exited;
    }));
  }

  private fill(): void {
    this.refillTimer = undefined;
    while (!this.stopped && this.idle.length < this.opts.size) this.add();
  }

  private add(): void {
    const child = forkHostProcess(this.opts.env, this.opts.threadpoolSize);
    const p: Pooled = {
      child,
      warm: false,
      onMessage: (m) => {
        if ((m as { type?: string })?.type === 'idle') p.warm = true;
      },
      onExit: () => {
        // died while idle: drop it, and replace it after a backoff that grows while they keep dying
        this.idle = this.idle.filter((q) => q !== p);
        this.idleDeaths++;
        this.log.warn({ pid: child.pid, code: child.exitCode, signal: child.signalCode }, 'an idle pooled provider host died; replacing it');
        this.scheduleRefill();
      },
    };
    child.on('message', p.onMessage);
    child.once('exit', p.onExit);
    child.on('error', () => { /* reported through exit */ });
    this.idle.push(p);
  }

  private scheduleRefill(): void {
    if (this.stopped || this.refillTimer || this.idle.length >= this.opts.size) return;
    const base = this.opts.refillDelayMs ?? 250;
    const delay = Math.min(this.opts.maxRefillDelayMs ?? 30_000, base * 2 ** Math.min(this.idleDeaths, 10));
    this.refillTimer = setTimeout(() => this.fill(), delay);
    this.refillTimer.unref();
  }
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null && c.connected;
}
