/**
 * Placing with topology spread: one replica at a time, since each placement changes the domain
 * counts the next one is judged by (the plain path can take the best `count` nodes at once).
 * Each replica goes to the best-scored node that breaks no DoNotSchedule constraint, ScheduleAnyway
 * adding its preference to the score; when no node is left, the nodes still free are reported
 * with the constraint that turned them away.
 */
import type { TopologySpreadConstraint } from '../../../api/spread.js';
import type { PlacementRequest } from './filters.js';
import type { NodeView } from './nodes.js';
import { fewestInstances, type ScoreContext, type Scorer } from './scorers.js';
import { countDomains, recordPlacement, spreadRefusal, spreadScore } from './spread.js';
import { tieRank } from './ties.js';

export interface SpreadPlacementInput extends PlacementRequest, ScoreContext {
  load: ReadonlyMap<string, number>;
  topologySpread: readonly TopologySpreadConstraint[];
  count: number;
  scorers: readonly Scorer[];
  tieBreak?: string;
}

export interface SpreadRejection {
  node: NodeView;
  reason: string;
}

/** Appends placements to `placements`; returns the free eligible nodes a constraint turned away (only when some replica is left). */
export function placeSpread(
  eligible: readonly NodeView[],
  capable: readonly NodeView[],
  all: ReadonlyMap<string, NodeView>,
  input: SpreadPlacementInput,
  placements: { node: string; target: string }[],
): SpreadRejection[] {
  const domains = countDomains(input.topologySpread, capable, all, input.instances ?? new Map());
  const load = new Map(input.load);
  // the load scorer changes as replicas land (several per node); the others are fixed per node
  const dynamic = input.scorers.includes(fewestInstances);
  const fixed = input.scorers.filter((s) => s !== fewestInstances);
  const ranked = eligible.map((n) => ({
    n,
    s: fixed.reduce((acc, sc) => acc + sc.weight * sc.score(n, input), 0),
    t: input.tieBreak === undefined ? 0 : tieRank(input.tieBreak, n.name),
  }));
  const used = new Set<string>();
  const free = (n: NodeView) =>
    (input.allowMultiplePerNode || !used.has(n.name)) && (n.maxInstances === undefined || (load.get(n.name) ?? 0) < n.maxInstances);
  let placed = 0;
  for (; placed < input.count; placed++) {
    let best: { n: NodeView; total: number; t: number } | undefined;
    for (const r of ranked) {
      if (!free(r.n) || spreadRefusal(domains, r.n)) continue;
      const total =
        r.s + spreadScore(domains, r.n) + (dynamic ? fewestInstances.weight * fewestInstances.score(r.n, { ...input, load }) : 0);
      if (!best || total > best.total || (total === best.total && (r.t < best.t || (r.t === best.t && r.n.name < best.n.name))))
        best = { n: r.n, total, t: r.t };
    }
    if (!best) break;
    placements.push({ node: best.n.name, target: best.n.target! });
    used.add(best.n.name);
    load.set(best.n.name, (load.get(best.n.name) ?? 0) + 1);
    recordPlacement(domains, best.n);
  }
  if (placed === input.count) return [];
  const refused: SpreadRejection[] = [];
  for (const { n } of ranked) {
    if (!free(n)) continue;
    const reason = spreadRefusal(domains, n);
    if (reason) refused.push({ node: n, reason });
  }
  return refused;
}
