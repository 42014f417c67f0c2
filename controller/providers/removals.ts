/**
 * Phase 3, roll out — the doing half: the plan (rollout.ts, pure: scale, roll out, roll back
 * and heal in one computation) says which instances go; this removes them, says so in Events,
 * and remembers nodes where an instance failed so the schedule phase keeps away from them.
 */
import type { ProviderInstance } from '../../api/instance.js';
import type { Provider } from '../../api/provider.js';
import type { EventRecorder } from '../events.js';
import type { FailedNodes } from './failed-nodes.js';
import type { RolloutPlan } from './rollout.js';
import type { InstanceWriter } from './writes.js';

export interface RemovalsInput {
  provider: Provider;
  key: string;
  /** The Provider's instances not already being deleted (the plan names them). */
  active: ProviderInstance[];
  writer: InstanceWriter;
  events: EventRecorder;
  failedNodes: FailedNodes;
  now: number;
}

const routine = new Set(['ScaledDown', 'Replaced']);
const avoidAfter = new Set(['InstanceFailed', 'InstanceLimit']);

export async function removePlanned(plan: RolloutPlan, o: RemovalsInput): Promise<void> {
  const byName = new Map(o.active.map((i) => [i.metadata.name, i]));
  await o.writer.remove(
    plan.remove.map((r) => ({ inst: byName.get(r.name)!, reason: r.reason })),
    false,
  );
  const planned = plan.remove.filter((r) => routine.has(r.reason));
  if (planned.length)
    o.events.record(
      o.provider,
      'Normal',
      'Removed',
      `removed ${planned.length} instance(s): ${tally(planned.map((r) => (r.reason === 'Replaced' ? 'replaced by the new revision' : 'scaled down')))}`,
    );
  const lost = plan.remove.filter((r) => !routine.has(r.reason));
  if (lost.length)
    o.events.record(
      o.provider,
      'Warning',
      'InstancesReplaced',
      `removed ${lost.length} instance(s) to replace them: ${tally(lost.map((r) => `${r.node}: ${r.reason}`))}`,
    );
  // a node that failed an instance, or whose agent refused one for its cap, is avoided a while
  for (const r of plan.remove) if (avoidAfter.has(r.reason)) o.failedNodes.record(o.key, r.node, o.now);
}

/** "a; b ×2" */
function tally(items: string[]): string {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('; ');
}
