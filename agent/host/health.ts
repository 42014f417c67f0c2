/**
 * The provider's health, watched from inside its host (docs/abi.md#health, docs/agent.md).
 *
 * Every period the host asks the provider's `health` extension whether it can serve. One
 * failure makes the instance unready (the host leaves its queue groups, so callers reach the
 * other instances); the first success after that makes it ready again; `failureThreshold`
 * failures in a row are a liveness failure (the host exits and is restarted with backoff).
 *
 * A check that does not answer within the timeout is a failure. Native code cannot be
 * cancelled, so while it is still running no second check is made (a provider stuck in
 * health would otherwise take one more thread every period): each period it stays stuck
 * counts as one more failure. Checks run on libuv's pool, never on the call threads, so a
 * hanging health check does not hold up calls.
 */
import type { HealthAnswer } from './native.js';

export interface HealthSettings {
  /** How often to ask, in seconds (default 10). */
  periodSeconds?: number;
  /** How long one check may take before it counts as a failure, in seconds (default 1). */
  timeoutSeconds?: number;
  /** Failures in a row that restart the host (default 3). */
  failureThreshold?: number;
}

export const DEFAULT_HEALTH: Required<HealthSettings> = { periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3 };

export interface HealthEvents {
  /** Readiness changed: healthy again, or unhealthy with the provider's (or the timeout's) message. */
  readiness(healthy: boolean, message: string): void;
  /** failureThreshold failures in a row: the host should go. */
  liveness(failures: number, message: string): void;
}

export class HealthMonitor {
  private readonly settings: Required<HealthSettings>;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private healthy = true;
  /** A check is running; `overdue` once it ran past the timeout (it was counted as a failure). */
  private running?: { overdue: boolean; since: number };
  private stopped = false;

  constructor(
    private readonly probe: () => Promise<HealthAnswer>,
    settings: HealthSettings | undefined,
    private readonly events: HealthEvents,
  ) {
    const given = Object.fromEntries(Object.entries(settings ?? {}).filter(([, v]) => v !== undefined));
    this.settings = { ...DEFAULT_HEALTH, ...given };
  }

  get isHealthy(): boolean {
    return this.healthy;
  }

  /** A check running past its timeout (native code that may never return). */
  get stuck(): boolean {
    return this.running?.overdue === true;
  }

  /** The first check now, then one every period. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.settings.periodSeconds * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.stopped) return;
    const r = this.running;
    if (r) {
      // still in native code: one more failure per period past its timeout, no second call
      if (r.overdue) this.failed(`the health check has not returned for ${Math.round((Date.now() - r.since) / 1000)} s`);
      return;
    }
    const run = { overdue: false, since: Date.now() };
    this.running = run;
    const timeoutMs = this.settings.timeoutSeconds * 1000;
    const timeout = setTimeout(() => {
      run.overdue = true;
      this.failed(`the health check did not answer within ${this.settings.timeoutSeconds} s`);
    }, timeoutMs);
    this.probe().then(
      (a) => this.answered(run, timeout, a.status === 0 ? undefined : a.message || `health returned code ${a.status}`),
      (e: Error) => this.answered(run, timeout, `the health check failed: ${e.message}`),
    );
  }

  private answered(run: { overdue: boolean }, timeout: NodeJS.Timeout, problem: string | undefined): void {
    clearTimeout(timeout);
    this.running = undefined;
    // a late answer was already counted as a failure: the next check decides
    if (run.overdue || this.stopped) return;
    if (problem === undefined) this.succeeded();
    else this.failed(problem);
  }

  private succeeded(): void {
    this.failures = 0;
    if (this.healthy) return;
    this.healthy = true;
    this.events.readiness(true, 'the provider is healthy again');
  }

  private failed(message: string): void {
    if (this.stopped) return;
    this.failures++;
    if (this.healthy) {
      this.healthy = false;
      this.events.readiness(false, message);
    }
    if (this.failures >= this.settings.failureThreshold) {
      this.stop();
      this.events.liveness(this.failures, message);
    }
  }
}
