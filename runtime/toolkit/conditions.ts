/**
 * Conditions as Kubernetes does them: one per type, `lastTransitionTime` moves only when the
 * status flips, so `kubectl wait --for=condition=Ready` and humans see stable timestamps.
 */
import { kubeTime } from './time.js';

/** A metav1.Condition, as every Gantry kind carries them (api/common.ts validates the same shape). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** `next` with the lastTransitionTime it should carry: the previous one while the status is unchanged. */
export function transition(
  previous: readonly Condition[] | undefined,
  next: ConditionInput,
  now: number | Date = Date.now(),
): Condition & { lastTransitionTime: string } {
  const prev = previous?.find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status && prev.lastTransitionTime ? prev.lastTransitionTime : kubeTime(now);
  return { ...next, lastTransitionTime };
}

/**
 * Returns the new condition list with `next` set (one per type), keeping lastTransitionTime when
 * the status is unchanged; `order` lists the types in the order a reader expects them.
 */
export function setCondition(
  list: Condition[] | undefined,
  next: ConditionInput,
  now: number | Date = new Date(),
  order: readonly string[] = [],
): Condition[] {
  const out = (list ?? []).filter((c) => c.type !== next.type);
  out.push(transition(list, next, now));
  const rank = (t: string) => (order.includes(t) ? order.indexOf(t) : order.length);
  return out.sort((a, b) => rank(a.type) - rank(b.type));
}

/** Deep equality on JSON values with key order ignored (to skip no-op status writes). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => jsonEqual(ao[k], bo[k]));
}
