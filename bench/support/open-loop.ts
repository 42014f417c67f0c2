/**
 * An open-loop call rate: call i is started at i / rate seconds whether or not the calls before it
 * have answered (a closed loop would slow down with the system under test and hide its stalls).
 * At most `maxInFlight` run at once; a call due beyond that is counted as skipped, not queued, so
 * a stall shows up as skipped calls rather than as a burst afterwards. Used by the chaos run
 * (bench/chaos/load.ts) and the upgrade test's callers (test/support/call-load.ts).
 */
export class OpenLoop {
  skipped = 0;
  /** Calls whose promise rejected: a caller records its failures itself, so this is a bug in it. */
  rejected = 0;
  private inFlight = 0;
  private issued = 0;
  private timer?: NodeJS.Timeout;
  private t0 = 0;
  private stoppedAt = 0;
  private drained?: () => void;

  /** `call(i)` is the i-th call (from 1); it records its own outcome (a rejection is only counted). */
  constructor(
    private readonly rate: number,
    private readonly maxInFlight: number,
    private readonly call: (i: number) => Promise<void>,
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.t0) / 1000) * this.rate) - this.issued;
      for (let i = 0; i < due; i++) {
        this.issued++;
        if (this.inFlight >= this.maxInFlight) this.skipped++;
        else void this.one(this.issued);
      }
    }, 10);
  }

  /** Stops starting calls and waits for those in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stoppedAt ||= performance.now();
    if (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
  }

  /** Milliseconds since the load started. */
  now(): number {
    return performance.now() - this.t0;
  }

  /** Milliseconds from the start to stop() (or to now, while it runs). */
  ranMs(): number {
    return (this.stoppedAt || performance.now()) - this.t0;
  }

  private async one(i: number): Promise<void> {
    this.inFlight++;
    try {
      await this.call(i);
    } catch {
      this.rejected++;
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }
}
