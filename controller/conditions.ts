/**
 * Conditions as Kubernetes does them: one per type, `lastTransitionTime` moves only when the
 * status flips, so `kubectl wait --for=condition=Ready` and humans see stable timestamps.
 */
import type { Condition } from '../api/common.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** Returns the new condition list with `next` set, keeping lastTransitionTime when status is unchanged. */
export function setCondition(list: Condition[] | undefined, next: ConditionInput, now = new Date()): Condition[] {
  const out = (list ?? []).filter((c) => c.type !== next.type);
  const prev = (list ?? []).find((c) => c.type === next.type);
  const lastTransitionTime =
    prev && prev.status === next.status && prev.lastTransitionTime ? prev.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  out.push({ ...next, lastTransitionTime });
  return out.sort((a, b) => order(a.type) - order(b.type));
}

const types = ['Resolved', 'Scheduled', 'Progressing', 'Ready'];
function order(t: string): number {
  const i = types.indexOf(t);
  return i < 0 ? types.length : i;
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
