/**
 * The chaos run's open-loop load and what it records: every call with its window (the fault
 * it fell after), code, latency and attempts, and the statistics a report gives of them.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { CallError, callProvider } from '../../client/call.js';
import { OpenLoop } from '../support/open-loop.js';
import { NS } from './scenario.js';

export interface CallStats {
  sent: number;
  succeeded: number;
  failedByCode: Record<string, number>;
  /** Calls that succeeded only after retries. */
  retried: number;
  p50Ms: number;
  p99Ms: number;
}

const CALL_TIMEOUT_MS = 5000;

export interface CallRecord {
  window: number;
  startMs: number;
  endMs: number;
  latencyMs: number;
  code: string;
  attempts: number;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function stats(calls: CallRecord[]): CallStats {
  const failedByCode: Record<string, number> = {};
  const ok: number[] = [];
  let retried = 0;
  for (const c of calls) {
    if (c.code === 'OK') {
      ok.push(c.latencyMs);
      if (c.attempts > 1) retried++;
    } else failedByCode[c.code] = (failedByCode[c.code] ?? 0) + 1;
  }
  ok.sort((a, b) => a - b);
  return {
    sent: calls.length,
    succeeded: ok.length,
    failedByCode,
    retried,
    p50Ms: round(percentile(ok, 50)),
    p99Ms: round(percentile(ok, 99)),
  };
}

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The open-loop load: `rate` calls/s over several connections, each call recorded in the current window. */
export class Load {
  readonly calls: CallRecord[] = [];
  window = 0;
  private readonly loop: OpenLoop;

  constructor(
    private conns: NatsConnection[],
    rate: number,
    maxInFlight: number,
  ) {
    this.loop = new OpenLoop(rate, maxInFlight, (i) => this.one(i));
  }

  get skipped(): number {
    return this.loop.skipped;
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async one(i: number): Promise<void> {
    const window = this.window;
    const nc = this.conns[i % this.conns.length];
    const kind = i % 3;
    const data = kind === 0 ? `chaos ${i}` : kind === 1 ? JSON.stringify({ key: `k${i % 64}`, value: `v${i}` }) : '';
    const startMs = this.loop.now();
    let code = 'OK';
    let attempts = 1;
    try {
      const r = await callProvider(nc, {
        namespace: NS,
        provider: kind === 0 ? 'echo' : 'keyvalue',
        op: kind === 0 ? 'Echo' : kind === 1 ? 'Set' : 'Keys',
        data,
        // every operation here is idempotent: an attempt nobody answered (its host was killed
        // with it) is tried again after half the deadline
        timeoutMs: CALL_TIMEOUT_MS,
        retry: { retries: 20, baseDelayMs: 50, maxDelayMs: 500, attemptTimeoutMs: CALL_TIMEOUT_MS / 2 },
      });
      attempts = r.attempts;
      if (kind === 0 && Buffer.from(r.reply).toString('utf8') !== data) code = 'WRONG_REPLY';
    } catch (e) {
      code = e instanceof CallError ? e.code : 'ERROR';
      attempts = e instanceof CallError ? e.attempts : 1;
    }
    const endMs = this.loop.now();
    this.calls.push({ window, startMs, endMs, latencyMs: endMs - startMs, code, attempts });
  }

  /** Milliseconds since the load started. */
  now(): number {
    return this.loop.now();
  }
}
