/**
 * A steady open-loop call rate against one Provider, as a service calling it would: the real
 * client library (callProvider) with its retry policy, over several NATS connections, every call
 * recorded with its code and attempts. For the upgrade test (test/cluster/upgrade.ts): what the
 * callers saw while the controller, agents and CRDs were replaced under them.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { CallError, callProvider, RETRYABLE_CODES, type RetryPolicy } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { OpenLoop } from '../../bench/support/open-loop.js';

export interface LoadFigures {
  /** Calls started (the rate times the run, less any skipped at the in-flight cap). */
  sent: number;
  succeeded: number;
  /** Calls that failed after the retry policy, by their last code. */
  failedByCode: Record<string, number>;
  /** Calls that succeeded only after one or more retries. */
  retried: number;
  /** Calls not started because maxInFlight were already running (the rate was not kept). */
  skipped: number;
  /** Calls that failed with a code the policy does not retry (must be 0 in every run). */
  finalFailures: number;
  /** Seconds the load ran. */
  seconds: number;
}

/** The policy the test's callers use: every echo call is idempotent, so a lost attempt is sent again. */
export const UPGRADE_RETRY: RetryPolicy = { retries: 6, baseDelayMs: 50, maxDelayMs: 500, attemptTimeoutMs: 2500 };
const CALL_TIMEOUT_MS = 8000;

export class CallLoad {
  private readonly codes: string[] = [];
  private retriedCalls = 0;
  private readonly loop: OpenLoop;

  private constructor(
    private readonly conns: NatsConnection[],
    private readonly target: { namespace: string; provider: string; op: string },
    rate: number,
    maxInFlight: number,
  ) {
    this.loop = new OpenLoop(rate, maxInFlight, (i) => this.one(i));
  }

  /** One connection per URL (each a port-forward to one NATS server), as admin. */
  static async connect(
    urls: string,
    creds: string,
    ca: string,
    target: { namespace: string; provider: string; op: string },
    rate: number,
  ): Promise<CallLoad> {
    const conns = await Promise.all(
      urls.split(',').map((u) => connectNats({ servers: u, credsFile: creds, tls: { caFile: ca }, name: 'upgrade-load' })),
    );
    return new CallLoad(conns, target, rate, rate * 10);
  }

  start(): void {
    this.loop.start();
  }

  /** Stops starting calls and waits for those in flight; the figures of the whole run. */
  async stop(): Promise<LoadFigures> {
    await this.loop.stop();
    return this.figures();
  }

  async close(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close().catch(() => {})));
  }

  figures(): LoadFigures {
    const failedByCode: Record<string, number> = {};
    let succeeded = 0;
    for (const c of this.codes) {
      if (c === 'OK') succeeded++;
      else failedByCode[c] = (failedByCode[c] ?? 0) + 1;
    }
    const finalFailures = Object.entries(failedByCode)
      .filter(([code]) => !(RETRYABLE_CODES as readonly string[]).includes(code))
      .reduce((n, [, k]) => n + k, 0);
    return {
      sent: this.codes.length,
      succeeded,
      failedByCode,
      retried: this.retriedCalls,
      skipped: this.loop.skipped,
      finalFailures,
      seconds: Math.round(this.loop.ranMs() / 100) / 10,
    };
  }

  private async one(i: number): Promise<void> {
    const data = `upgrade ${i}`;
    let code = 'OK';
    try {
      const r = await callProvider(this.conns[i % this.conns.length], {
        ...this.target,
        data,
        timeoutMs: CALL_TIMEOUT_MS,
        retry: UPGRADE_RETRY,
      });
      if (r.attempts > 1) this.retriedCalls++;
      if (Buffer.from(r.reply).toString('utf8') !== data) code = 'WRONG_REPLY';
    } catch (e) {
      code = e instanceof CallError ? e.code : `ERROR ${(e as Error).message}`;
    }
    this.codes.push(code);
  }
}
