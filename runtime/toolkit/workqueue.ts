/**
 * The work queue every reconciler shares (after client-go's rate-limited queue):
 *
 * - keyed: adding a key already waiting is a no-op (de-duplication), and a key added while it
 *   is being processed is run once more afterwards — never twice at the same time;
 * - per-key exponential backoff with a cap for failures (`retry`), reset by `forget`;
 * - delayed adds (`addAfter`) for time-based re-checks (lease expiry, progress deadlines);
 * - at most `concurrency` keys processed at once.
 *
 * Handlers return normally (done; backoff forgotten), return `{ requeueAfterMs }`, or throw
 * (retried with backoff). `pause()` stops taking new work (a controller that lost leadership).
 */
export interface WorkResult {
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  concurrency?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  onError?: (key: string, err: unknown, attempt: number) => void;
}

export class WorkQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private running = 0;
  private paused = true;
  private stopped = false;
  private handler?: (key: string) => Promise<WorkResult | void>;
  private idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly base: number;
  private readonly max: number;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.base = opts.backoffBaseMs ?? 200;
    this.max = opts.backoffMaxMs ?? 60_000;
  }

  /** Number of keys waiting (not counting those in progress or delayed). */
  get depth(): number {
    return this.pending.length;
  }
  get inFlight(): number {
    return this.running;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.pending.push(key);
    this.pump();
  }

  /** Adds the key after `ms`; an earlier pending delayed add for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /** The backoff the next failure of `key` will wait. */
  backoffFor(key: string): number {
    const n = this.failures.get(key) ?? 0;
    return Math.min(this.max, this.base * 2 ** Math.min(n, 30));
  }

  /** Re-adds the key after its backoff, and grows the backoff. */
  retry(key: string): number {
    const delay = this.backoffFor(key);
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  attempts(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Starts (or resumes) processing with `handler`. */
  run(handler: (key: string) => Promise<WorkResult | void>): void {
    this.handler = handler;
    this.paused = false;
    this.pump();
  }

  pause(): void {
    this.paused = true;
  }

  /** Resolves when nothing is waiting or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.running === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops taking work, drops delayed keys, waits for handlers in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.paused = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.pending.length = 0;
    this.queued.clear();
    if (this.running > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (!this.paused && this.handler && this.running < this.concurrency && this.pending.length > 0) {
      const key = this.pending.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
    if (this.running === 0 && this.pending.length === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters.splice(0);
      for (const f of w) f();
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const r = await this.handler!(key);
      this.forget(key);
      if (r?.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.opts.onError?.(key, err, attempt);
      this.retry(key);
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
