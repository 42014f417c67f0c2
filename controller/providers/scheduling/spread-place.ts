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
import { brokenConstraint, countDomains, globalMin, recordPlacement, spreadRefusal, spreadScore } from './spread.js';
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

interface Ranked {
  n: NodeView;
  /** Score from every scorer but the load one, which changes as replicas land on the node. */
  s: number;
  t: number;
}

/**
 * Nodes alike for every constraint (the same value of each topology key): they share the
 * verdict and the ScheduleAnyway score, so each replica looks at one node per cell, not at all.
 */
interface Cell {
  nodes: Ranked[];
  /** One per node: the nodes before this one are taken or full (that never reverts in a pass). */
  next: number;
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
  const ctx = { ...input, load };
  const weighLoad = input.scorers.includes(fewestInstances);
  const loadScore = (n: NodeView) => (weighLoad ? fewestInstances.weight * fewestInstances.score(n, ctx) : 0);
  const fixed = input.scorers.filter((s) => s !== fewestInstances);
  const cells = new Map<string, Cell>();
  for (const n of eligible) {
    const r = {
      n,
      s: fixed.reduce((acc, sc) => acc + sc.weight * sc.score(n, input), 0),
      t: input.tieBreak === undefined ? 0 : tieRank(input.tieBreak, n.name),
    };
    const key = domains.map((d) => n.labels[d.constraint.topologyKey] ?? '').join('\u0000');
    const cell = cells.get(key) ?? { nodes: [], next: 0 };
    cell.nodes.push(r);
    cells.set(key, cell);
  }
  // one per node: a node's load changes only when it takes a replica, and then it is out
  if (!input.allowMultiplePerNode) {
    const order = new Map<Ranked, number>();
    for (const c of cells.values()) for (const r of c.nodes) order.set(r, r.s + loadScore(r.n));
    for (const c of cells.values()) c.nodes.sort((a, b) => better(order.get(a)!, a, order.get(b)!, b));
  }
  const used = new Set<string>();
  const free = (n: NodeView) =>
    (input.allowMultiplePerNode || !used.has(n.name)) && (n.maxInstances === undefined || (load.get(n.name) ?? 0) < n.maxInstances);
  const soft = domains.some((d) => d.constraint.whenUnsatisfiable === 'ScheduleAnyway');
  let placed = 0;
  for (; placed < input.count; placed++) {
    const mins = domains.map(globalMin);
    let best: (Ranked & { total: number }) | undefined;
    for (const cell of cells.values()) {
      const head = bestInCell(cell, free, loadScore, !!input.allowMultiplePerNode);
      if (!head || brokenConstraint(domains, mins, head.n) >= 0) continue;
      const total = head.total + (soft ? spreadScore(domains, head.n) : 0);
      if (!best || better(total, head, best.total, best) < 0) best = { ...head, total };
    }
    if (!best) break;
    placements.push({ node: best.n.name, target: best.n.target! });
    used.add(best.n.name);
    load.set(best.n.name, (load.get(best.n.name) ?? 0) + 1);
    recordPlacement(domains, best.n);
  }
  if (placed === input.count) return [];
  const refused: SpreadRejection[] = [];
  for (const n of eligible) {
    if (!free(n)) continue;
    const reason = spreadRefusal(domains, n);
    if (reason) refused.push({ node: n, reason });
  }
  return refused;
}

/** Negative when `a` (scored `sa`) goes before `b`: higher score, then the Provider's tie order, then name. */
function better(sa: number, a: Ranked, sb: number, b: Ranked): number {
  return sb - sa || a.t - b.t || a.n.name.localeCompare(b.n.name);
}

/** The cell's best free node and its score: the first free one in order, or (several per node) the best by current load. */
function bestInCell(
  cell: Cell,
  free: (n: NodeView) => boolean,
  loadScore: (n: NodeView) => number,
  several: boolean,
): (Ranked & { total: number }) | undefined {
  if (!several) {
    while (cell.next < cell.nodes.length && !free(cell.nodes[cell.next].n)) cell.next++;
    const r = cell.nodes[cell.next];
    return r && { ...r, total: r.s + loadScore(r.n) };
  }
  let best: (Ranked & { total: number }) | undefined;
  for (const r of cell.nodes) {
    if (!free(r.n)) continue;
    const total = r.s + loadScore(r.n);
    if (!best || better(total, r, best.total, best) < 0) best = { ...r, total };
  }
  return best;
}
