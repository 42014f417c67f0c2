/**
 * Replica planning: given the Provider's instances and the template it should run, decide
 * which instances to remove and how many to create — scale, roll out, roll back and heal are
 * all this one level-triggered computation (after the Deployment controller):
 *
 * - lost instances (node gone / NotReady / NoExecute taint / agent lease expired) and failed
 *   ones are removed regardless of budgets (they serve nothing);
 * - instances of the target template above the desired count are removed, unhealthy first;
 * - instances of any other template ("old") are removed only while the Ready count stays at or
 *   above `desired - maxUnavailable`; unready old ones go first and freely;
 * - new instances are created up to `desired`, and the total never exceeds
 *   `desired + maxSurge`.
 * Rollback is the same thing with the old template as the target. A template is the instance
 * spec without node and target (template-hash.ts): a new revision, config or resources is one.
 *
 * Budgets may be percentages of `desired` (`25%`), resolved as the Deployment controller does:
 * maxSurge rounds up, maxUnavailable rounds down, and if both come to 0 maxUnavailable is 1.
 */
import type { IntOrPercent } from '../../api/common.js';

export interface InstanceView {
  name: string;
  node: string;
  /** Its template hash (template-hash.ts). */
  template: string;
  ready: boolean;
  /** Why it must go now (lost node/agent, failed), if it must. */
  removeReason?: string;
  createdAt: string;
}

export interface RolloutInput {
  instances: InstanceView[];
  /** Undefined while nothing has resolved (or its config has not): only heal. */
  targetTemplate?: string;
  desired: number;
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
  /** Gantry instances per node (all Providers), to pick which extras to remove. */
  load?: ReadonlyMap<string, number>;
}

export interface RolloutPlan {
  remove: { name: string; node: string; reason: string }[];
  create: number;
  /** Instances kept, after the removals. */
  kept: InstanceView[];
  updated: number;
  updatedReady: number;
  old: number;
  ready: number;
  complete: boolean;
}

function removalOrder(load?: ReadonlyMap<string, number>) {
  // unhealthy first, then the busiest node, then the newest
  return (a: InstanceView, b: InstanceView) =>
    Number(a.ready) - Number(b.ready) ||
    (load?.get(b.node) ?? 0) - (load?.get(a.node) ?? 0) ||
    b.createdAt.localeCompare(a.createdAt) ||
    a.name.localeCompare(b.name);
}

/** An integer, or `N%` of `total` rounded up or down; anything else is 0 (the API schema refuses it). */
export function scaledValue(v: IntOrPercent, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return Math.max(0, Math.floor(v));
  const m = /^([0-9]+)%$/.exec(v);
  if (!m) return 0;
  const exact = (Number(m[1]) * Math.max(0, total)) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** Absolute budgets for `desired` instances (Kubernetes' ResolveFenceposts). */
export function resolveFenceposts(
  maxSurge: IntOrPercent,
  maxUnavailable: IntOrPercent,
  desired: number,
): { maxSurge: number; maxUnavailable: number } {
  const surge = scaledValue(maxSurge, desired, true);
  const unavailable = scaledValue(maxUnavailable, desired, false);
  // both zero would deadlock a rollout (e.g. 25% of 2 replicas rounds down to 0)
  return { maxSurge: surge, maxUnavailable: surge === 0 && unavailable === 0 ? 1 : unavailable };
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const remove: RolloutPlan['remove'] = [];
  let live: InstanceView[] = [];
  for (const i of input.instances) {
    if (i.removeReason) remove.push({ name: i.name, node: i.node, reason: i.removeReason });
    else live.push(i);
  }
  const desired = Math.max(0, input.desired);
  if (input.targetTemplate === undefined) {
    const ready = live.filter((i) => i.ready).length;
    return { remove, create: 0, kept: live, updated: 0, updatedReady: 0, old: live.length, ready, complete: false };
  }
  const { maxSurge, maxUnavailable } = resolveFenceposts(input.maxSurge, input.maxUnavailable, desired);
  const order = removalOrder(input.load);

  let updated = live.filter((i) => i.template === input.targetTemplate).sort(order);
  let old = live.filter((i) => i.template !== input.targetTemplate).sort(order);

  // Stryker disable next-line EqualityOperator: at updated.length === desired the block removes nothing and keeps all
  if (updated.length > desired) {
    for (const i of updated.slice(0, updated.length - desired)) remove.push({ name: i.name, node: i.node, reason: 'ScaledDown' });
    updated = updated.slice(updated.length - desired);
  }

  // old instances: unready ones go freely; ready ones only within the availability budget
  const minAvailable = Math.max(0, desired - maxUnavailable);
  let available = updated.filter((i) => i.ready).length + old.filter((i) => i.ready).length;
  const keepOld: InstanceView[] = [];
  for (const i of old) {
    // when there are already enough new instances, any old one is surplus
    // Stryker disable next-line ArithmeticOperator: unready old instances sort first, so keepOld is still empty whenever surplus is used
    const placed = updated.length + keepOld.length;
    const surplus = placed >= desired + maxSurge;
    if (!i.ready) {
      remove.push({ name: i.name, node: i.node, reason: surplus ? 'ScaledDown' : 'Replaced' });
    } else if (available - 1 >= minAvailable) {
      available--;
      remove.push({ name: i.name, node: i.node, reason: updated.length >= desired ? 'ScaledDown' : 'Replaced' });
    } else keepOld.push(i);
  }
  old = keepOld;

  const total = updated.length + old.length;
  const create = Math.max(0, Math.min(desired - updated.length, desired + maxSurge - total));
  live = [...updated, ...old];
  const updatedReady = updated.filter((i) => i.ready).length;
  return {
    remove,
    create,
    kept: live,
    updated: updated.length,
    updatedReady,
    old: old.length,
    ready: live.filter((i) => i.ready).length,
    complete: updated.length === desired && old.length === 0 && updatedReady === desired && remove.length === 0 && create === 0,
  };
}
