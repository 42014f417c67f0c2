/**
 * The check of a host's `calls` message before the agent counts it (agent/call-metrics.ts). A
 * host runs native provider code, so nothing it says is trusted beyond shape and range: the
 * label values it may introduce are bounded (at most MAX_OPERATIONS names plus `other`, each at
 * most MAX_OPERATION_LENGTH long), every figure is a finite whole number ≥ 0, and within one
 * incarnation (same startedAt) no count goes backwards — a Prometheus counter never decreases.
 */
import {
  CALL_CODES,
  type CallsSnapshot,
  LATENCY_BUCKETS,
  MAX_OPERATION_LENGTH,
  MAX_OPERATIONS,
  type OperationFigures,
  OTHER_OPERATION,
} from './host/call-stats.js';

// Stryker disable next-line ConditionalExpression: Number.isSafeInteger is false for a non-number anyway (the typeof narrows for tsc)
const whole = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
// Stryker disable next-line ConditionalExpression: Number.isFinite is false for a non-number anyway (the typeof narrows for tsc)
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** The snapshot, or why it is refused. */
export function checkCallsSnapshot(data: unknown): CallsSnapshot | string {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return 'not an object';
  const s = data as Record<string, unknown>;
  for (const k of ['startedAt', 'inFlight', 'busyMs', 'calls', 'overloaded'] as const)
    if (!whole(s[k])) return `${k} is not a whole number ≥ 0`;
  const ops = s.ops;
  if (!ops || typeof ops !== 'object' || Array.isArray(ops)) return 'ops is not an object';
  const names = Object.keys(ops);
  const labelled = names.filter((n) => n !== OTHER_OPERATION);
  if (labelled.length > MAX_OPERATIONS) return `${labelled.length} operations, over the limit of ${MAX_OPERATIONS}`;
  for (const name of names) {
    if (name.length === 0 || name.length > MAX_OPERATION_LENGTH) return `operation name of ${name.length} characters`;
    const why = figuresProblem((ops as Record<string, unknown>)[name]);
    if (why) return `operation ${JSON.stringify(name)}: ${why}`;
  }
  return data as CallsSnapshot;
}

function figuresProblem(f: unknown): string | undefined {
  if (!f || typeof f !== 'object') return 'not an object';
  const { counts, buckets, sum } = f as Record<string, unknown>;
  if (!Array.isArray(counts) || counts.length !== CALL_CODES.length || !counts.every(whole))
    return `counts is not ${CALL_CODES.length} whole numbers ≥ 0`;
  if (!Array.isArray(buckets) || buckets.length !== LATENCY_BUCKETS.length + 1 || !buckets.every(whole))
    return `buckets is not ${LATENCY_BUCKETS.length + 1} whole numbers ≥ 0`;
  if (!finite(sum)) return 'sum is not a finite number ≥ 0';
  return undefined;
}

/** Within one incarnation (same startedAt), the operation or count that went backwards from `prev` to `next`, if any. */
export function wentBackwards(prev: CallsSnapshot, next: CallsSnapshot): string | undefined {
  if (next.calls < prev.calls) return 'calls';
  for (const [op, p] of Object.entries(prev.ops)) {
    const n: OperationFigures | undefined = next.ops[op];
    if (!n) return `operation ${JSON.stringify(op)} disappeared`;
    if (p.counts.some((c, i) => n.counts[i] < c) || p.buckets.some((b, i) => n.buckets[i] < b) || n.sum < p.sum)
      return `operation ${JSON.stringify(op)}`;
  }
  return undefined;
}
