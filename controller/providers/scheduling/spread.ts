/**
 * Topology spread (`spec.topologySpread`), with Kubernetes' meaning: a domain is a value of the
 * constraint's node label among the nodes this Provider could run on (those passing every filter
 * about the node itself: readiness, taints, nodeSelector, arch/os, a live agent — a full node
 * still is one, as a node without room is for Pods); the skew of placing one more replica in a
 * domain is its count + 1 − the smallest count over all domains (taken as 0 while there are
 * fewer domains than minDomains). DoNotSchedule refuses a node whose skew would exceed maxSkew;
 * ScheduleAnyway only prefers the emptier domains. The instances counted are this Provider's
 * live ones, plus the replicas placed earlier in the same pass.
 */
import type { TopologySpreadConstraint } from '../../../api/spread.js';
import type { Filter } from './filters.js';
import type { NodeView } from './nodes.js';

/** One constraint's domains and how many of this Provider's instances each holds. */
export interface DomainCounts {
  constraint: TopologySpreadConstraint;
  counts: Map<string, number>;
}

/** How many instances a domain has above the emptiest one (`min`), after placing one more there. */
export function skewAfterPlacing(d: DomainCounts, domain: string, min = globalMin(d)): number {
  return (d.counts.get(domain) ?? 0) + 1 - min;
}

/** The smallest count over the eligible domains; 0 while there are fewer than minDomains of them. */
export function globalMin(d: DomainCounts): number {
  if (d.counts.size < (d.constraint.minDomains ?? 1)) return 0;
  // not empty here: minDomains is at least 1
  let min = Number.POSITIVE_INFINITY;
  // Stryker disable next-line EqualityOperator: c <= min takes an equal count, the same minimum
  for (const c of d.counts.values()) if (c < min) min = c;
  return min;
}

/**
 * Each constraint's domains from the nodes that could run this Provider (`capable`), counted
 * from its live instances (`instances`: node → count), wherever their node lies in a domain.
 */
export function countDomains(
  constraints: readonly TopologySpreadConstraint[],
  capable: readonly NodeView[],
  nodes: ReadonlyMap<string, NodeView>,
  instances: ReadonlyMap<string, number>,
): DomainCounts[] {
  return constraints.map((constraint) => {
    const counts = new Map<string, number>();
    for (const n of capable) {
      const v = n.labels[constraint.topologyKey];
      if (v !== undefined) counts.set(v, 0);
    }
    for (const [node, k] of instances) {
      const v = nodes.get(node)?.labels[constraint.topologyKey];
      // Stryker disable next-line ConditionalExpression: counts never holds an undefined key, so has() says the same
      if (v !== undefined && counts.has(v)) counts.set(v, counts.get(v)! + k);
    }
    return { constraint, counts };
  });
}

/** The first DoNotSchedule constraint placing one more on `n` would break, as a reason; else undefined. */
export function spreadRefusal(domains: readonly DomainCounts[], n: NodeView): string | undefined {
  const i = brokenConstraint(domains, domains.map(globalMin), n);
  if (i < 0) return undefined;
  const c = domains[i].constraint;
  if (n.labels[c.topologyKey] === undefined) return `TopologySpread: no label ${c.topologyKey}`;
  return `TopologySpread: ${c.topologyKey} maxSkew ${c.maxSkew} would be exceeded (${describeCounts(domains[i])})`;
}

/**
 * Index of the first DoNotSchedule constraint placing one more on `n` would break, or -1.
 * `mins` holds each constraint's globalMin, computed once per replica: this runs for every node.
 */
export function brokenConstraint(domains: readonly DomainCounts[], mins: readonly number[], n: NodeView): number {
  for (let i = 0; i < domains.length; i++) {
    const c = domains[i].constraint;
    if (c.whenUnsatisfiable !== 'DoNotSchedule') continue;
    const v = n.labels[c.topologyKey];
    if (v === undefined || skewAfterPlacing(domains[i], v, mins[i]) > c.maxSkew) return i;
  }
  return -1;
}

/** What ScheduleAnyway adds to a node's score: fewer instances in its domains is better. */
export const SPREAD_SCORE_WEIGHT = 100;
export function spreadScore(domains: readonly DomainCounts[], n: NodeView): number {
  let s = 0;
  for (const d of domains) {
    if (d.constraint.whenUnsatisfiable !== 'ScheduleAnyway') continue;
    const v = n.labels[d.constraint.topologyKey];
    // a node outside every domain ranks below the fullest domain (Kubernetes scores it lowest)
    const count = d.counts.get(v) ?? maxCount(d) + 1;
    s -= SPREAD_SCORE_WEIGHT * count;
  }
  return s;
}

function maxCount(d: DomainCounts): number {
  let max = 0;
  // Stryker disable next-line EqualityOperator: c >= max takes an equal count, the same maximum
  for (const c of d.counts.values()) if (c > max) max = c;
  return max;
}

export function recordPlacement(domains: readonly DomainCounts[], n: NodeView): void {
  for (const d of domains) {
    const v = n.labels[d.constraint.topologyKey];
    const c = d.counts.get(v);
    if (c !== undefined) d.counts.set(v, c + 1);
  }
}

const SHOWN_DOMAINS = 8;
/** "zone-a 2, zone-b 1, zone-c 0", by name; the rest as "…and N more". */
export function describeCounts(d: DomainCounts): string {
  const names = [...d.counts.keys()].sort();
  const shown = names.slice(0, SHOWN_DOMAINS).map((k) => `${k} ${d.counts.get(k)}`);
  if (names.length > SHOWN_DOMAINS) shown.push(`…and ${names.length - SHOWN_DOMAINS} more`);
  return shown.join(', ');
}

/**
 * Under DoNotSchedule a node without the constraint's label is in no domain and never takes a
 * replica: a filter about the node itself, so it lowers capacity and is "skipped" in steady state.
 */
export function topologyKeyFilter(constraints: readonly TopologySpreadConstraint[]): Filter {
  const keys = constraints.filter((c) => c.whenUnsatisfiable === 'DoNotSchedule').map((c) => c.topologyKey);
  return {
    name: 'TopologySpreadKey',
    check: (n) => {
      const missing = keys.find((k) => n.labels[k] === undefined);
      return missing === undefined ? undefined : `TopologySpread: no label ${missing}`;
    },
  };
}
