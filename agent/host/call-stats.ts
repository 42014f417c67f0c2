/**
 * What a host counts of the calls it answers (the InstanceServer's hot path calls in here), for
 * the agent's Prometheus export (agent/call-metrics.ts, sent over IPC) and the load reports the
 * controller scales on (client/load.ts, published on NATS by call-report.ts).
 *
 * Per operation and result code a count, per operation a latency histogram of the calls that
 * ran (refusals before the provider ran — OVERLOADED, PAYLOAD_TOO_LARGE, BAD_REQUEST, NOT_READY
 * while stopping — are counted, not timed), the calls in flight and their integral over time.
 * Cardinality is bounded here, where names come from callers: an operation becomes a label only
 * once the provider answered it OK (so a caller inventing names cannot mint labels), at most
 * MAX_OPERATIONS of them; every other name counts as `other`. Nothing per caller or payload.
 * Everything is cumulative since `startedAt`, so a lost snapshot loses no call.
 */

/** Result codes a host answers with: OK or the CallErrorCode of its error reply. */
export const CALL_CODES = [
  'OK',
  'PROVIDER_ERROR',
  'TIMEOUT',
  'OVERLOADED',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  'NOT_READY',
  'BAD_REQUEST',
] as const;
export type CallCode = (typeof CALL_CODES)[number];
const CODE_INDEX = Object.fromEntries(CALL_CODES.map((c, i) => [c, i])) as Record<CallCode, number>;
const OK = CODE_INDEX.OK;
const OVERLOADED = CODE_INDEX.OVERLOADED;

/** Upper bounds (seconds) of the latency buckets; one more bucket (+Inf) follows. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Operation names that become labels per instance; the rest count as OTHER_OPERATION. */
export const MAX_OPERATIONS = 32;
/** Longer names count as OTHER_OPERATION (a label value is not a place for a payload). */
export const MAX_OPERATION_LENGTH = 64;
export const OTHER_OPERATION = 'other';

/** One operation's figures: counts by CALL_CODES index, non-cumulative bucket counts (+Inf last), Σ seconds. */
export interface OperationFigures {
  counts: number[];
  buckets: number[];
  sum: number;
}

/** Everything counted since startedAt (the IPC `calls` message). */
export interface CallsSnapshot {
  startedAt: number;
  inFlight: number;
  /** Σ in-flight × ms since startedAt. */
  busyMs: number;
  calls: number;
  overloaded: number;
  ops: Record<string, OperationFigures>;
}

export function emptyFigures(): OperationFigures {
  return { counts: CALL_CODES.map(() => 0), buckets: [...LATENCY_BUCKETS, Infinity].map(() => 0), sum: 0 };
}

export class CallStats {
  readonly startedAt = Date.now();
  private readonly ops = new Map<string, OperationFigures>();
  private readonly other = emptyFigures();
  private inFlight = 0;
  private busyMs = 0;
  private changedAt = performance.now();
  private calls = 0;
  private overloaded = 0;

  /** `enabled` false (GANTRY_HOST_CALL_STATS=0): nothing is counted, the bench's baseline. */
  constructor(readonly enabled = process.env.GANTRY_HOST_CALL_STATS !== '0') {}

  /** A call starts running at `now` (performance.now(), read once by the caller for its deadline too). */
  begin(now: number): void {
    if (!this.enabled) return;
    this.settle(now);
    this.inFlight++;
  }

  /** A call that began at `start` was answered `code`. */
  end(op: string, code: CallCode, start: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    this.settle(now);
    this.inFlight--;
    this.count(op, code, (now - start) / 1000);
  }

  /** A call refused before it ran (no latency); `op` undefined when the subject named none. */
  refuse(op: string | undefined, code: CallCode): void {
    if (this.enabled) this.count(op, code, -1);
  }

  snapshot(): CallsSnapshot {
    this.settle(performance.now());
    const ops: Record<string, OperationFigures> = { [OTHER_OPERATION]: copy(this.other) };
    for (const [op, f] of this.ops) ops[op] = copy(f);
    return {
      startedAt: this.startedAt,
      inFlight: this.inFlight,
      busyMs: Math.round(this.busyMs),
      calls: this.calls,
      overloaded: this.overloaded,
      ops,
    };
  }

  /** Bring the busy integral up to `now`. */
  private settle(now: number): void {
    // Stryker disable next-line ConditionalExpression: with nothing in flight the product is 0 anyway
    if (this.inFlight > 0) this.busyMs += this.inFlight * (now - this.changedAt);
    this.changedAt = now;
  }

  private count(op: string | undefined, code: CallCode, seconds: number): void {
    const c = CODE_INDEX[code];
    let f = op === undefined ? this.other : this.ops.get(op);
    if (f === undefined) {
      f = this.other;
      if (c === OK && this.admits(op as string)) {
        f = emptyFigures();
        this.ops.set(op as string, f);
      }
    }
    f.counts[c]++;
    this.calls++;
    if (c === OVERLOADED) this.overloaded++;
    if (seconds < 0) return;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    f.buckets[i]++;
    f.sum += seconds;
  }

  private admits(op: string): boolean {
    return this.ops.size < MAX_OPERATIONS && op.length <= MAX_OPERATION_LENGTH && op !== OTHER_OPERATION;
  }
}

function copy(f: OperationFigures): OperationFigures {
  return { counts: f.counts.slice(), buckets: f.buckets.slice(), sum: f.sum };
}
