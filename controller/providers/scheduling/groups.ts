/**
 * Weighted spread (`spec.spread`), as wadm's spread scaler: the replicas are divided over label
 * groups in proportion to their weights, and each group's share is placed on its own nodes by
 * the ordinary scheduler (filters, scorers, topology spread within the group). A node belongs
 * to the first group whose nodeSelector it matches; a node in no group takes no replica.
 */
import { DEFAULT_SPREAD_WEIGHT, type SpreadGroup } from '../../../api/spread.js';
import type { NodeView } from './nodes.js';
import { type Placement, type ScheduleInput, type ScheduleResult, scheduleReplicas, summarizeRejections } from './scheduler.js';

/**
 * Each group's share of `replicas` by weight, by largest remainder: every group gets the whole
 * part of its exact share, and the replicas left go one each to the largest fractional parts
 * (ties: the heavier group, then the earlier one). The shares always sum to `replicas` — wadm
 * rounds each share to the nearest whole number instead, which can add up to one more or less.
 */
export function spreadShares(groups: readonly SpreadGroup[], replicas: number): number[] {
  const weights = groups.map((g) => g.weight ?? DEFAULT_SPREAD_WEIGHT);
  const total = weights.reduce((a, w) => a + w, 0);
  const exact = weights.map((w) => (replicas * w) / total);
  const shares = exact.map(Math.floor);
  let left = replicas - shares.reduce((a, s) => a + s, 0);
  const order = groups.map((_, i) => i).sort((a, b) => exact[b] - shares[b] - (exact[a] - shares[a]) || weights[b] - weights[a] || a - b);
  for (const i of order) {
    if (left <= 0) break;
    shares[i]++;
    left--;
  }
  return shares;
}

/** Index of the first group whose nodeSelector the labels match, or -1. */
export function groupOf(groups: readonly SpreadGroup[], labels: Record<string, string>): number {
  return groups.findIndex((g) => Object.entries(g.nodeSelector ?? {}).every(([k, v]) => labels[k] === v));
}

/**
 * How many of `create` new replicas each group gets: first what brings each group up to its
 * share (the groups furthest below first), then any more (a surge) to the group with the fewest
 * instances for its weight.
 */
export function allotments(groups: readonly SpreadGroup[], shares: readonly number[], have: readonly number[], create: number): number[] {
  const give = groups.map(() => 0);
  const deficit = (i: number) => shares[i] - have[i] - give[i];
  const byDeficit = groups.map((_, i) => i).sort((a, b) => deficit(b) - deficit(a) || a - b);
  let left = create;
  for (const i of byDeficit) {
    const n = Math.max(0, Math.min(deficit(i), left));
    give[i] += n;
    left -= n;
  }
  for (; left > 0; left--) {
    let best = 0;
    const ratio = (i: number) => (have[i] + give[i] + 1) / (groups[i].weight ?? DEFAULT_SPREAD_WEIGHT);
    for (let i = 1; i < groups.length; i++) if (ratio(i) < ratio(best)) best = i;
    give[best]++;
  }
  return give;
}

export interface GroupScheduleInput extends ScheduleInput {
  groups: readonly SpreadGroup[];
  /** Replicas the Provider should run in all (the shares are of this, not of `count`). */
  desired: number;
}

/** Schedules each group's part on its own nodes and merges the results, each group's reasons under its name. */
export function scheduleOverGroups(input: GroupScheduleInput): ScheduleResult {
  const { groups } = input;
  const parts: NodeView[][] = groups.map(() => []);
  const outside: NodeView[] = [];
  const at = new Map<string, number>();
  for (const n of input.nodes) {
    const g = groupOf(groups, n.labels);
    at.set(n.name, g);
    (g < 0 ? outside : parts[g]).push(n);
  }
  const have = groups.map(() => 0);
  for (const [node, k] of input.instances ?? []) {
    const g = at.get(node) ?? -1;
    if (g >= 0) have[g] += k;
  }
  const shares = spreadShares(groups, input.desired);
  const give = allotments(groups, shares, have, input.count);
  const results = groups.map((_, g) => scheduleReplicas({ ...input, nodes: parts[g], count: give[g] }));
  return mergeGroups(groups, shares, results, outside);
}

function mergeGroups(groups: readonly SpreadGroup[], shares: number[], results: ScheduleResult[], outside: NodeView[]): ScheduleResult {
  const label = (g: number) => `spread group ${groups[g].name} (${shares[g]} replica${shares[g] === 1 ? '' : 's'})`;
  const none = outside.length ? noGroup(outside) : '';
  const join = (pick: (r: ScheduleResult) => string) =>
    [...results.flatMap((r, g) => (pick(r) ? [`${label(g)}: ${pick(r)}`] : [])), ...(none ? [none] : [])].join('; ');
  const placements: Placement[] = results.flatMap((r) => r.placements);
  const unplaced = results.reduce((a, r) => a + r.unplaced, 0);
  return {
    placements,
    unplaced,
    eligible: results.reduce((a, r) => a + r.eligible, 0),
    // a group's capacity beyond its share cannot help another group
    capacity: results.reduce((a, r, g) => a + Math.min(r.capacity, shares[g]), 0),
    summary: join((r) => r.summary) || (unplaced > 0 ? 'no nodes' : ''),
    skipped: join((r) => r.skipped),
    noMatchingTarget: results.every((r) => r.noMatchingTarget),
  };
}

function noGroup(outside: NodeView[]): string {
  const byPlatform = new Map<string, number>();
  for (const n of outside) byPlatform.set(n.platform, (byPlatform.get(n.platform) ?? 0) + 1);
  return summarizeRejections(
    [...byPlatform].map(([platform, count]) => ({ platform, count, reason: 'in no spread group', occupancy: false })),
  );
}
