/**
 * Placing replicas: filter every node, score the survivors, take the best `count` (one per
 * node unless the Provider allows more), and explain the rest. The explanation is assembled
 * from the filters' own reasons, grouped by node platform: "3 nodes arm64/linux: archive
 * has no aarch64-linux binary".
 */
import { defaultFilters, type Filter, nodeFull, type PlacementRequest } from './filters.js';
import { defaultScorers, type ScoreContext, type Scorer } from './scorers.js';
import type { NodeView } from './nodes.js';
import { topologyKeyFilter } from './spread.js';
import { placeSpread } from './spread-place.js';
import { tieRank } from './ties.js';

export interface Placement {
  node: string;
  target: string;
}

export interface ScheduleResult {
  placements: Placement[];
  unplaced: number;
  /** Nodes that passed every filter (before taking `count`). */
  eligible: number;
  /**
   * Nodes that pass every filter about the node itself (all but the occupancy ones): how
   * many nodes this Provider could run on at all, one per node.
   */
  capacity: number;
  /**
   * Every node group the filters turned away and why, most nodes first: "2 nodes
   * amd64/linux: already runs an instance of this Provider; 1 node amd64/linux: no live Gantry
   * agent". "no nodes" when replicas are unplaced and there is no node at all; empty when no
   * node was turned away. The reconciler reports it as is.
   */
  summary: string;
  /** The same for the nodes turned away for what they are (not for this Provider's own instances): "other nodes skipped". */
  skipped: string;
  /** True when no node at all has a target in the archive. */
  noMatchingTarget: boolean;
}

export interface ScheduleInput extends PlacementRequest, ScoreContext {
  /** Gantry instances per node, all Providers: the NodeFull filter and the FewestInstances scorer. */
  load: ReadonlyMap<string, number>;
  nodes: Iterable<NodeView>;
  count: number;
  filters?: Filter[];
  scorers?: Scorer[];
  /** Breaks ties between equally scored nodes, per Provider (its ns/name): see ties.ts. */
  tieBreak?: string;
}

export interface Rejection {
  platform: string;
  reason: string;
  count: number;
  /** Turned away by an occupancy filter (this Provider's own instances), not for what the node is. */
  occupancy: boolean;
}

export interface FilterResult {
  eligible: NodeView[];
  /** Nodes passing every filter that is not an occupancy one. */
  capable: NodeView[];
  /** Rejected nodes grouped by platform and first failing filter's reason. */
  rejected: Map<string, Rejection>;
  anyTarget: boolean;
}

/** Nodes passing every filter, the ones passing all but the occupancy filters, and the rejected ones grouped as "platform: reason" → count. */
export function filterNodes(nodes: Iterable<NodeView>, req: PlacementRequest, filters: Filter[] = defaultFilters): FilterResult {
  const eligible: NodeView[] = [];
  const capable: NodeView[] = [];
  const rejected = new Map<string, Rejection>();
  let anyTarget = false;
  for (const n of nodes) {
    if (n.target && req.archiveTargets.has(n.target)) anyTarget = true;
    let first: Filter | undefined;
    let reason: string | undefined;
    let nodeFails = false;
    for (const f of filters) {
      if (first && f.occupancy) continue; // already out; only a node filter can still change capacity
      const r = f.check(n, req);
      if (!r) continue;
      if (!first) {
        first = f;
        reason = r;
      }
      if (!f.occupancy) {
        nodeFails = true;
        break;
      }
    }
    if (!nodeFails) capable.push(n);
    if (!first) {
      eligible.push(n);
      continue;
    }
    addRejection(rejected, n, reason!, !!first.occupancy);
  }
  return { eligible, capable, rejected, anyTarget };
}

export function summarizeRejections(rejected: Iterable<Rejection>): string {
  return [...rejected]
    .sort((a, b) => b.count - a.count || a.platform.localeCompare(b.platform) || a.reason.localeCompare(b.reason))
    .map((g) => `${g.count} node${g.count === 1 ? '' : 's'} ${g.platform}: ${g.reason}`)
    .join('; ');
}

export function scheduleReplicas(input: ScheduleInput): ScheduleResult {
  const spread = input.topologySpread?.length ? input.topologySpread : undefined;
  const nodes = spread ? [...input.nodes] : input.nodes;
  const filters = spread ? withKeyFilter(input.filters ?? defaultFilters, spread) : input.filters;
  const { eligible, capable, rejected, anyTarget } = filterNodes(nodes, input, filters);
  const placements: Placement[] = [];
  if (input.count > 0 && spread) {
    const all = new Map([...(nodes as NodeView[])].map((n) => [n.name, n]));
    const refused = placeSpread(
      eligible,
      capable,
      all,
      { ...input, topologySpread: spread, scorers: input.scorers ?? defaultScorers },
      placements,
    );
    for (const r of refused) addRejection(rejected, r.node, r.reason, true);
  } else if (input.count > 0) placeOn(eligible, input, placements);
  const unplaced = Math.max(0, input.count - placements.length);
  if (unplaced > 0 && placements.length > 0) filledUp(eligible, input, placements, rejected);
  const groups = [...rejected.values()];
  return {
    placements,
    unplaced,
    eligible: eligible.length,
    capacity: capable.length,
    summary: summarizeRejections(groups) || (unplaced > 0 ? 'no nodes' : ''),
    skipped: summarizeRejections(groups.filter((g) => !g.occupancy)),
    noMatchingTarget: !anyTarget,
  };
}

/** The key filter goes before the occupancy filters: a node without the label is out for what it is. */
function withKeyFilter(filters: Filter[], spread: NonNullable<PlacementRequest['topologySpread']>): Filter[] {
  const at = filters.findIndex((f) => f.occupancy);
  const key = topologyKeyFilter(spread);
  return at < 0 ? [...filters, key] : [...filters.slice(0, at), key, ...filters.slice(at)];
}

/**
 * Several per node, some left unplaced: the eligible nodes these placements filled up are
 * turned away as full, so the summary says why the rest found no node.
 */
function filledUp(eligible: NodeView[], input: ScheduleInput, placements: Placement[], rejected: Map<string, Rejection>): void {
  const load = new Map(input.load);
  for (const p of placements) load.set(p.node, (load.get(p.node) ?? 0) + 1);
  for (const n of eligible) {
    const reason = nodeFull.check(n, { ...input, load });
    if (reason) addRejection(rejected, n, reason, true);
  }
}

function addRejection(rejected: Map<string, Rejection>, n: NodeView, reason: string, occupancy: boolean): void {
  const k = `${n.platform}\u0000${reason}`;
  const g = rejected.get(k);
  if (g) g.count++;
  else rejected.set(k, { platform: n.platform, reason, count: 1, occupancy });
}

/** Scores the eligible nodes and appends the best `input.count` placements. */
function placeOn(eligible: NodeView[], input: ScheduleInput, placements: Placement[]): void {
  const scorers = input.scorers ?? defaultScorers;
  const seed = input.tieBreak;
  const scored = eligible.map((n) => ({
    n,
    s: scorers.reduce((acc, sc) => acc + sc.weight * sc.score(n, input), 0),
    t: seed === undefined ? 0 : tieRank(seed, n.name),
  }));
  scored.sort((a, b) => b.s - a.s || a.t - b.t || a.n.name.localeCompare(b.n.name));
  if (input.allowMultiplePerNode) {
    // several per node: place one at a time on the currently least loaded node that has room
    const load = new Map(input.load);
    const room = (n: NodeView) => n.maxInstances === undefined || (load.get(n.name) ?? 0) < n.maxInstances;
    for (let i = 0; i < input.count; i++) {
      let best: NodeView | undefined;
      for (const { n } of scored) if (room(n) && (!best || (load.get(n.name) ?? 0) < (load.get(best.name) ?? 0))) best = n;
      if (!best) break; // every eligible node is full now: the rest stay unplaced
      placements.push({ node: best.name, target: best.target! });
      load.set(best.name, (load.get(best.name) ?? 0) + 1);
    }
  } else {
    for (const { n } of scored.slice(0, input.count)) placements.push({ node: n.name, target: n.target! });
  }
}
