/**
 * ProviderHost: one supervised provider host process for one instance.
 *
 * It forks agent/host/main (from dist/) with an IPC channel — or takes one from a HostPool
 * (pool.ts), pre-started or booting — sends it the HostSpec (checked here first: BAD_SPEC) and waits
 * for `ready`. After that, an exit it did not ask for is a crash: it counts a restart and
 * forks again after an exponential backoff (initialMs, doubling, capped at maxMs; back to
 * initialMs once an incarnation has stayed up for resetAfterMs). Load errors (bad library,
 * ABI or capid mismatch, refused configuration) are terminal: restarting cannot fix them, so
 * the host goes to `failed`. The first incarnation is special: start() rejects with its error
 * rather than retrying, so the caller (the agent) reports why an instance cannot start.
 *
 * renewCredentials(): the agent rewrote the creds file the spec names; a ready host reconnects
 * with it without dropping calls ('renewed' with how long it took); a host not ready picks it
 * up on its next start.
 *
 * Events: 'spawned' (pid; each incarnation, in the tick it was forked, before it is ready),
 * 'ready' (each incarnation; it starts healthy), 'health' (healthy, message: the provider's
 * health extension changed its readiness, agent/host/health.ts), 'calls' (CallsSnapshot: what the
 * incarnation's calls add up to, call-stats.ts), 'crash' ({ code, signal, restartCount, nextDelayMs,
 * error? }), 'failed' (HostError), 'stopped'.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { logger } from '../../runtime/log.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import { HostError, HostExit, TERMINAL_CODES } from './errors.js';
import type { FromHost, ToHost } from './ipc.js';
import { effectiveLimits, type HostSpec } from './spec.js';
import { checkHostSpec } from './spec-check.js';
import type { HostMemoryCgroup, MemoryCgroupParent } from './memory-cgroup-dir.js';
import { forkHostProcess, hostThreadpoolSize, type HostPool } from './pool.js';
import { loadLibc } from './libc.js';
import { passLibrary } from './library-channel.js';
import { requestRenewal } from './renewal.js';

export type HostState = 'starting' | 'ready' | 'backoff' | 'failed' | 'stopped';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** An incarnation that stays up this long resets the backoff. */
  resetAfterMs?: number;
}

export interface ProviderHostOptions {
  backoff?: BackoffOptions;
  /** How long an incarnation may take to become ready (default 30 s). */
  startTimeoutMs?: number;
  /** How long stop() waits for a graceful exit before SIGKILL (default 10 s, or more for a long limits.stopGraceMs). */
  stopGraceMs?: number;
  /** Added to each host process's environment (the agent's marker, see agent/host-records.ts). */
  env?: NodeJS.ProcessEnv;
  /**
   * Where host processes come from (pool.ts): each incarnation takes a warm idle one, or waits
   * for the next to finish booting (a few boot at a time). Without a pool each incarnation is
   * forked on the spot. The pool's env must be this `env`.
   */
  pool?: HostPool;
  /**
   * Most memory the host process may use (the instance's resources.memory). Over it the
   * process is killed and the crash carries OOM_KILLED; it restarts with backoff. With
   * memoryCgroup the kernel enforces it (each incarnation in a child cgroup limited to it);
   * without, the agent checks the process's RSS every memoryCheckMs (see docs/agent.md for
   * what that costs in precision).
   */
  memoryLimitBytes?: number;
  /** How often the RSS is checked against memoryLimitBytes without a memoryCgroup (default 250 ms; 0: never). */
  memoryCheckMs?: number;
  /** Where each incarnation's memory cgroup is made (--host-cgroup); a failure to make one fails the host (MEMORY_CGROUP_FAILED). */
  memoryCgroup?: MemoryCgroupParent;
  /** A descriptor on the verified library's sealed memfd, owned (closed on stop): each incarnation loads it unhashed. */
  libraryFd?: number;
}

/** How the last incarnation became ready, in ms (the bench's breakdown). */
export interface StartTimings {
  /** a warm idle host was taken from the pool (no boot waited for) */
  pooled: boolean;
  /** asked for a process → ready (a boot waited for included) */
  totalMs: number;
  /** steps inside the host process (load, configure, connect, dispatch, subscribe) */
  steps: Record<string, number>;
}

export interface CrashInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  restartCount: number;
  nextDelayMs: number;
  /** The error the process reported before dying, if any (e.g. HUNG, NATS_UNAVAILABLE). */
  error?: { code: string; message: string };
}

export class ProviderHost extends EventEmitter {
  private _state: HostState = 'starting';
  private _restartCount = 0;
  private child?: ChildProcess;
  private consecutiveCrashes = 0;
  private readyAt = 0;
  private backoffTimer?: NodeJS.Timeout;
  private startTimer?: NodeJS.Timeout;
  private memoryTimer?: NodeJS.Timeout;
  private firstStart?: { resolve: () => void; reject: (e: HostError) => void };
  private stopping?: Promise<void>;
  private started = false;
  private readonly backoff: Required<BackoffOptions>;
  private readonly log;
  private _startTimings?: StartTimings;
  private _health = { healthy: true, message: '' };

  constructor(
    readonly spec: HostSpec,
    private readonly opts: ProviderHostOptions = {},
  ) {
    super();
    this.backoff = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 30_000, ...opts.backoff };
    this.log = logger('provider-supervisor', { namespace: spec.namespace, instance: spec.instance });
  }

  get state(): HostState {
    return this._state;
  }
  get restartCount(): number {
    return this._restartCount;
  }
  get startTimings(): StartTimings | undefined {
    return this._startTimings;
  }
  /** The running incarnation's last reported health (healthy until its provider says otherwise). */
  get health(): { healthy: boolean; message: string } {
    return this._health;
  }
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /**
   * The running host process's resident memory in bytes (Linux /proc), or undefined when no
   * process runs. A provider that leaks shows here long before it is killed for it.
   */
  residentBytes(): number | undefined {
    const pid = this.pid;
    return pid === undefined ? undefined : residentBytesOf(pid);
  }

  /** Resolves when the first incarnation is Ready; rejects with HostError if it cannot start. */
  start(): Promise<void> {
    if (this.started) return Promise.reject(new HostError('BAD_SPEC', 'ProviderHost.start() called twice'));
    this.started = true;
    // the one full check of the spec (the host process only re-checks what it dereferences)
    const problems = checkHostSpec(this.spec);
    if (problems.length) {
      this._state = 'failed';
      return Promise.reject(new HostError('BAD_SPEC', `invalid host spec for ${this.spec.instance}: ${problems.join('; ')}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.firstStart = { resolve, reject };
      this.spawn();
    });
  }

  renewals = 0; // renewals the host completed (its credentials reconnected)

  /** Ask a ready host to reconnect with its rewritten creds file; resolves when it did (or has no process to ask). */
  renewCredentials(): Promise<void> {
    const child = this.child;
    if (this._state !== 'ready' || !child || child.exitCode !== null) return Promise.resolve();
    return requestRenewal(child).then((ms) => {
      if (ms === undefined) return; // exited: the next incarnation reads the new file
      this.renewals++;
      this.emit('renewed', ms);
    });
  }

  /** Stop gracefully (SIGTERM, drain, provider stop), SIGKILL after the grace period. Stays stopped. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this._state = 'stopped';
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    if (this.memoryTimer) clearInterval(this.memoryTimer);
    if (this.startTimer) clearTimeout(this.startTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        child.send({ type: 'stop' } satisfies ToHost);
      } catch {
        /* channel already gone */
      }
      child.kill('SIGTERM');
      // The host's own shutdown takes up to twice its drain grace (drain, then provider stop).
      const grace = this.opts.stopGraceMs ?? Math.max(10_000, 2 * effectiveLimits(this.spec).stopGraceMs + 2000);
      const killer = setTimeout(() => child.kill('SIGKILL'), grace);
      await exited;
      clearTimeout(killer);
    }
    if (this.opts.libraryFd !== undefined) loadLibc()?.close(this.opts.libraryFd);
    this.settleFirst(new HostError('STOPPED', `instance ${this.spec.instance} was stopped before it became ready`));
    this.emit('stopped');
  }

  private spawn(): void {
    const limits = effectiveLimits(this.spec);
    this._state = 'starting';
    // koffi's async calls run on libuv's pool: 4 working threads plus room for hung calls.
    const threads = hostThreadpoolSize(limits.maxHungCalls);
    const requestedAt = performance.now();
    const pool = this.opts.pool;
    if (!pool) return this.attach(forkHostProcess(this.opts.env, threads), false, requestedAt);
    pool.acquire(threads).then(
      ({ child, pooled }) => {
        if (this._state !== 'starting') {
          child.kill('SIGKILL'); // stopped while waiting for a process
          return;
        }
        this.attach(child, pooled, requestedAt);
      },
      (e: Error) => {
        if (this._state !== 'starting') return;
        this.onExit(null, null, false, { code: 'CRASHED', message: `no host process for ${this.spec.instance}: ${e.message}` });
      },
    );
  }

  /** Supervise one incarnation: a process just forked or acquired from the pool. */
  private attach(child: ChildProcess, pooled: boolean, requestedAt: number): void {
    let reported: { code: string; message: string } | undefined;
    let ready = false;
    this.child = child;
    if (child.pid !== undefined) this.emit('spawned', child.pid);
    const cap = this.capMemory(child, (r) => {
      reported = r;
    });
    if (cap.failed) reported = cap.failed;
    this.startTimer = setTimeout(() => {
      reported = {
        code: 'START_TIMEOUT',
        message: `host for ${this.spec.instance} not ready after ${this.opts.startTimeoutMs ?? 30_000} ms`,
      };
      child.kill('SIGKILL');
    }, this.opts.startTimeoutMs ?? 30_000);

    child.on('message', (m: FromHost) => {
      if (m.type === 'ready') {
        ready = true;
        this._startTimings = { pooled, totalMs: performance.now() - requestedAt, steps: m.steps ?? {} };
        clearTimeout(this.startTimer);
        if (this._state === 'stopped') return;
        this._state = 'ready';
        this._health = { healthy: true, message: '' };
        this.readyAt = Date.now();
        this.log.info({ pid: m.pid, restartCount: this._restartCount }, 'provider host ready');
        this.settleFirst();
        this.emit('ready');
      } else if (m.type === 'error') {
        reported = { code: m.code, message: m.message };
      } else if (m.type === 'calls') {
        this.emit('calls', m.stats);
      } else if (m.type === 'health' && this._state === 'ready') {
        this._health = { healthy: m.healthy, message: m.message };
        this.emit('health', m.healthy, m.message);
      }
    });
    child.on('error', (e) => {
      reported ??= { code: 'CRASHED', message: `cannot run the host process: ${e.message}` };
    });
    child.once('exit', (code, signal) => {
      clearTimeout(this.startTimer);
      if (this.memoryTimer && this.child === child) clearInterval(this.memoryTimer);
      if (this.child === child) this.child = undefined;
      if (cap.cgroup) reported = this.releaseCgroup(cap.cgroup, signal) ?? reported;
      if (this._state === 'stopped') return;
      this.onExit(code, signal, ready, reported);
    });
    // no spec, no provider code: a host that could not be capped never loads its library
    if (cap.failed) child.kill('SIGKILL');
    else child.send({ type: 'spec', spec: this.handOverLibrary(child) } satisfies ToHost);
  }

  /** Pass the sealed library before the spec, which then says so; else the host hashes the file (library-channel.ts). */
  private handOverLibrary(child: ChildProcess): HostSpec {
    const fd = this.opts.libraryFd;
    if (fd === undefined) return this.spec;
    if (passLibrary(child, fd)) return { ...this.spec, librarySealed: true };
    this.log.warn({ pid: child.pid }, 'cannot pass the sealed library to the host; it hashes the library file instead');
    return { ...this.spec, librarySealed: false };
  }

  /**
   * Cap this incarnation's memory before it is sent its spec (so before the provider's library
   * is loaded): in a child cgroup of memoryCgroup, or else by polling its RSS.
   */
  private capMemory(
    child: ChildProcess,
    pollKilled: (r: { code: string; message: string }) => void,
  ): { cgroup?: HostMemoryCgroup; failed?: { code: string; message: string } } {
    const limit = this.opts.memoryLimitBytes;
    const pid = child.pid;
    if (limit === undefined || pid === undefined) return {};
    if (this.opts.memoryCgroup) {
      try {
        return { cgroup: this.opts.memoryCgroup.place(this.spec.namespace, this.spec.instance, pid, limit) };
      } catch (e) {
        this.log.error({ pid, err: (e as Error).message }, 'cannot cap the provider host in a memory cgroup; not starting it');
        return { failed: { code: (e as HostError).code ?? 'MEMORY_CGROUP_FAILED', message: (e as Error).message } };
      }
    }
    if (this.memoryTimer) clearInterval(this.memoryTimer);
    if (this.opts.memoryCheckMs === 0) return {};
    this.memoryTimer = setInterval(() => {
      if (this.child !== child) return;
      const rss = residentBytesOf(pid);
      if (rss === undefined || rss <= limit) return;
      const message =
        `host of ${keyOf({ namespace: this.spec.namespace, name: this.spec.instance })} used ${mib(rss)} MiB, ` +
        `over its memory limit of ${mib(limit)} MiB (resources.memory); killed`;
      this.log.warn({ pid, rssBytes: rss, limitBytes: limit }, 'provider host over its memory limit; killing it');
      pollKilled({ code: 'OOM_KILLED', message });
      child.kill('SIGKILL');
    }, this.opts.memoryCheckMs ?? 250);
    this.memoryTimer.unref();
    return {};
  }

  /**
   * The host exited: its cgroup says whether the kernel's OOM killer did it (then the crash is
   * OOM_KILLED), and is removed.
   */
  private releaseCgroup(cgroup: HostMemoryCgroup, signal: NodeJS.Signals | null): { code: string; message: string } | undefined {
    const key = keyOf({ namespace: this.spec.namespace, name: this.spec.instance });
    const message = signal === 'SIGKILL' ? cgroup.oomMessage(key) : undefined;
    if (message) this.log.warn({ cgroup: cgroup.path, limitBytes: cgroup.limitBytes }, message);
    cgroup.remove().catch((e: Error) => this.log.warn({ cgroup: cgroup.path, err: e.message }, 'cannot remove the host memory cgroup'));
    return message ? { code: 'OOM_KILLED', message } : undefined;
  }

  private onExit(
    code: number | null,
    signal: NodeJS.Signals | null,
    wasReady: boolean,
    reported?: { code: string; message: string },
  ): void {
    const how = signal ? `signal ${signal}` : `status ${code}`;
    const terminal = (reported && TERMINAL_CODES.has(reported.code)) || code === HostExit.TERMINAL;
    if (terminal || this.firstStart) {
      const err = new HostError(
        reported?.code ?? 'CRASHED',
        reported?.message ?? `host process for ${this.spec.instance} exited (${how}) before it was ready`,
      );
      this._state = 'failed';
      this.log.error({ code: err.code, err: err.message }, 'provider host failed');
      this.settleFirst(err);
      this.emit('failed', err);
      return;
    }
    if (wasReady && Date.now() - this.readyAt >= this.backoff.resetAfterMs) this.consecutiveCrashes = 0;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.consecutiveCrashes);
    this.consecutiveCrashes++;
    this._restartCount++;
    this._state = 'backoff';
    const info: CrashInfo = { code, signal, restartCount: this._restartCount, nextDelayMs: delay, error: reported };
    this.log.warn({ ...info }, `provider host exited (${how}); restarting`);
    this.emit('crash', info);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (this._state === 'backoff') this.spawn();
    }, delay);
  }

  /** Settle the start() promise, once. */
  private settleFirst(err?: HostError): void {
    const f = this.firstStart;
    if (!f) return;
    this.firstStart = undefined;
    if (err) f.reject(err);
    else f.resolve();
  }
}

function residentBytesOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
