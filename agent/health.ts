/**
 * The agent's answers to the kubelet's probes (served on /healthz and /readyz):
 *
 *   live   the event loop is responsive: a watchdog timer measures how late it fires, and
 *          a stall longer than `maxStallMs` within the last `windowMs` fails the probe. A
 *          loop blocked right now cannot answer at all, so the probe times out instead.
 *   ready  the ProviderInstance informer has synced and the last Lease renewal succeeded,
 *          no longer ago than `staleAfterMs` (so a renewal that hangs counts as failed too).
 *          An agent that cannot renew its Lease is one the controller will soon call lost.
 *
 * `serveHealth` serves both, with the agent's metrics, through runtime/metrics-server.ts.
 */
import type { Registry } from 'prom-client';
import { type MetricsServer, serveMetrics } from '../runtime/metrics-server.js';

export class EventLoopWatch {
  private timer?: NodeJS.Timeout;
  private last = performance.now();
  /** When the last stall over the limit was seen, and how long it was. */
  private stall?: { at: number; ms: number };

  constructor(private readonly o: { maxStallMs: number; windowMs: number; tickMs?: number }) {}

  start(): void {
    const tick = this.o.tickMs ?? Math.max(10, Math.min(500, this.o.maxStallMs / 4));
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.last - tick;
      this.last = now;
      if (late > this.o.maxStallMs) this.stall = { at: now, ms: late };
    }, tick);
    this.timer.unref?.();
  }

  /** True, or why the loop is not considered responsive. */
  check(): true | string {
    const now = performance.now();
    if (this.stall && now - this.stall.at <= this.o.windowMs)
      return `event loop stalled for ${Math.round(this.stall.ms)} ms ${Math.round((now - this.stall.at) / 1000)} s ago`;
    return true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Readiness from the informer's sync state and the heartbeat's record of renewals. */
export function readiness(o: {
  synced: () => boolean;
  lease: () => { lastSuccessAt?: number; lastError?: string };
  staleAfterMs: number;
  now?: () => number;
}): () => true | string {
  return () => {
    if (!o.synced()) return 'ProviderInstance cache not synced';
    const { lastSuccessAt, lastError } = o.lease();
    if (lastError) return `last Lease renewal failed: ${lastError}`;
    if (lastSuccessAt === undefined) return 'Lease not renewed yet';
    const age = (o.now ?? Date.now)() - lastSuccessAt;
    if (age > o.staleAfterMs) return `last Lease renewal ${Math.round(age / 1000)} s ago`;
    return true;
  };
}

export interface HealthServer {
  readonly url: string;
  close(): Promise<void>;
}

/** /metrics, /healthz and /readyz on `addr`; nothing is left running when that fails. */
export async function serveHealth(o: {
  addr: string;
  registry: Registry;
  /** default 10 s */
  maxEventLoopStallMs?: number;
  synced: () => boolean;
  lease: () => { lastSuccessAt?: number; lastError?: string };
  renewIntervalMs: number;
}): Promise<HealthServer> {
  const maxStallMs = o.maxEventLoopStallMs ?? 10_000;
  const loopWatch = new EventLoopWatch({ maxStallMs, windowMs: 2 * maxStallMs });
  loopWatch.start();
  const ready = readiness({ synced: o.synced, lease: o.lease, staleAfterMs: 3 * o.renewIntervalMs });
  let server: MetricsServer;
  try {
    server = await serveMetrics(o.addr, o.registry, { ready, live: loopWatch.check.bind(loopWatch) });
  } catch (err) {
    loopWatch.stop();
    throw err;
  }
  return {
    url: server.url,
    async close() {
      await server.close();
      loopWatch.stop();
    },
  };
}
