/**
 * Topology spread in the scheduler (controller/providers/scheduling/spread*.ts), as pure
 * functions of node views: the skew math, minDomains, which nodes count as domains, nodes
 * without the label, DoNotSchedule as a filter with its reason, ScheduleAnyway as a preference.
 */
import { describe, expect, it } from 'vitest';
import type { TopologySpreadConstraint } from '../../../../api/spread.js';
import { TopologySpread } from '../../../../api/spread.js';
import type { NodeView } from '../../../../controller/providers/scheduling/nodes.js';
import { scheduleReplicas } from '../../../../controller/providers/scheduling/scheduler.js';
import {
  countDomains,
  describeCounts,
  type DomainCounts,
  globalMin,
  skewAfterPlacing,
  spreadRefusal,
  spreadScore,
  topologyKeyFilter,
} from '../../../../controller/providers/scheduling/spread.js';

const ZONE = 'topology.kubernetes.io/zone';
const x86 = new Set(['x86_64-linux']);
function n(name: string, zone: string | undefined, extra: Partial<NodeView> = {}): NodeView {
  return {
    name,
    labels: { 'kubernetes.io/arch': 'amd64', ...(zone ? { [ZONE]: zone } : {}) },
    platform: 'amd64/linux',
    ready: true,
    unschedulable: false,
    taints: [],
    target: 'x86_64-linux',
    agentLive: true,
    ...extra,
  };
}
const arm = (name: string, zone: string) =>
  n(name, zone, { platform: 'arm64/linux', target: 'aarch64-linux', labels: { 'kubernetes.io/arch': 'arm64', [ZONE]: zone } });
const hard = (maxSkew = 1, minDomains?: number): TopologySpreadConstraint => ({
  topologyKey: ZONE,
  maxSkew,
  whenUnsatisfiable: 'DoNotSchedule',
  ...(minDomains ? { minDomains } : {}),
});
const soft = (maxSkew = 1): TopologySpreadConstraint => ({ topologyKey: ZONE, maxSkew, whenUnsatisfiable: 'ScheduleAnyway' });
const domains = (c: TopologySpreadConstraint, counts: Record<string, number>): DomainCounts => ({
  constraint: c,
  counts: new Map(Object.entries(counts)),
});
function schedule(nodes: NodeView[], count: number, spread: TopologySpreadConstraint[], instances: Record<string, number> = {}) {
  return scheduleReplicas({
    nodes,
    count,
    archiveTargets: x86,
    occupied: new Set(Object.keys(instances)),
    instances: new Map(Object.entries(instances)),
    load: new Map(Object.entries(instances)),
    previous: new Set(),
    topologySpread: spread,
    tieBreak: 'apps/kv',
  });
}
const perZone = (nodes: NodeView[], placed: { node: string }[]) => {
  const zone = new Map(nodes.map((x) => [x.name, x.labels[ZONE]]));
  const out: Record<string, number> = {};
  for (const p of placed) out[zone.get(p.node)!] = (out[zone.get(p.node)!] ?? 0) + 1;
  return out;
};

describe('skew math', () => {
  it('skew is the count after placing minus the emptiest domain', () => {
    const d = domains(hard(), { a: 2, b: 1, c: 0 });
    expect(globalMin(d)).toBe(0);
    expect(skewAfterPlacing(d, 'c')).toBe(1);
    expect(skewAfterPlacing(d, 'b')).toBe(2);
    expect(skewAfterPlacing(d, 'a')).toBe(3);
    expect(globalMin(domains(hard(), { a: 3, b: 2 }))).toBe(2);
    expect(globalMin(domains(hard(), { a: 1, b: 3 }))).toBe(1);
    // above a non-zero minimum: zone a at 3 over b at 2 is a skew of 2 after one more
    const above = domains(hard(), { a: 3, b: 2 });
    expect(skewAfterPlacing(above, 'a')).toBe(2);
    expect(spreadRefusal([above], n('x', 'a'))).toBe('TopologySpread: topology.kubernetes.io/zone maxSkew 1 would be exceeded (a 3, b 2)');
    expect(spreadRefusal([above], n('x', 'b'))).toBeUndefined();
  });

  it('minDomains: with fewer eligible domains the emptiest count is 0', () => {
    expect(globalMin(domains(hard(1, 3), { a: 2, b: 2 }))).toBe(0);
    expect(globalMin(domains(hard(1, 2), { a: 2, b: 2 }))).toBe(2);
    expect(globalMin(domains(hard(1, 2), {}))).toBe(0);
  });

  it('DoNotSchedule names the constraint and every domain count; ScheduleAnyway never refuses', () => {
    const d = domains(hard(), { 'zone-a': 1, 'zone-b': 1, 'zone-c': 0 });
    expect(spreadRefusal([d], n('x', 'zone-a'))).toBe(
      'TopologySpread: topology.kubernetes.io/zone maxSkew 1 would be exceeded (zone-a 1, zone-b 1, zone-c 0)',
    );
    expect(spreadRefusal([d], n('x', 'zone-c'))).toBeUndefined();
    expect(spreadRefusal([d], n('x', undefined))).toBe('TopologySpread: no label topology.kubernetes.io/zone');
    expect(spreadRefusal([domains(soft(), { 'zone-a': 5, 'zone-b': 0 })], n('x', 'zone-a'))).toBeUndefined();
  });

  it('ScheduleAnyway prefers the emptier domain and ranks a node outside every domain below the fullest', () => {
    const d = [domains(soft(), { a: 2, b: 1 })];
    expect(spreadScore(d, n('x', 'b'))).toBeGreaterThan(spreadScore(d, n('x', 'a')));
    expect(spreadScore(d, n('x', 'a'))).toBeGreaterThan(spreadScore(d, n('x', undefined)));
    expect(spreadScore(d, n('x', 'other'))).toBe(-300);
    expect(spreadScore([domains(hard(), { a: 2 })], n('x', 'a'))).toBe(0);
  });

  it('domains are named in order, a long list cut after 8 names', () => {
    const counts = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`z${9 - i}`, 9 - i]));
    expect(describeCounts(domains(hard(), counts))).toBe('z0 0, z1 1, z2 2, z3 3, z4 4, z5 5, z6 6, z7 7, …and 2 more');
    const eight = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`z${i}`, 1]));
    expect(describeCounts(domains(hard(), eight))).toBe('z0 1, z1 1, z2 1, z3 1, z4 1, z5 1, z6 1, z7 1');
  });

  it('domains come from the nodes that could run the Provider; instances count wherever their node is in one', () => {
    const nodes = [n('a1', 'a'), n('b1', 'b'), arm('c1', 'c'), n('nolabel', undefined)];
    const [d] = countDomains(
      [hard()],
      [nodes[0], nodes[1], nodes[3]],
      new Map(nodes.map((x) => [x.name, x])),
      new Map([
        ['a1', 2],
        ['c1', 1],
        ['gone', 1],
      ]),
    );
    expect(Object.fromEntries(d.counts)).toEqual({ a: 2, b: 0 });
  });
});

describe('scheduling with topologySpread', () => {
  const threeZones = [
    n('a1', 'zone-a'),
    n('a2', 'zone-a'),
    n('a3', 'zone-a'),
    n('a4', 'zone-a'),
    n('b1', 'zone-b'),
    n('b2', 'zone-b'),
    n('c1', 'zone-c'),
    n('c2', 'zone-c'),
  ];

  it('6 replicas over 3 zones with maxSkew 1 → 2/2/2, where plain scoring may crowd the biggest zone', () => {
    const r = schedule(threeZones, 6, [hard()]);
    expect(r.unplaced).toBe(0);
    expect(perZone(threeZones, r.placements)).toEqual({ 'zone-a': 2, 'zone-b': 2, 'zone-c': 2 });
    expect(r.summary).toBe('');
  });

  it('counts the live instances: 2 more beside 2 in zone-a go to b and c', () => {
    const r = schedule(threeZones, 2, [hard()], { a1: 1, a2: 1 });
    expect(perZone(threeZones, r.placements)).toEqual({ 'zone-b': 1, 'zone-c': 1 });
  });

  it('a zone whose nodes are full is still a domain: DoNotSchedule leaves replicas unplaced and says which constraint', () => {
    const full = { maxInstances: 0 };
    const nodes = [
      n('a1', 'zone-a'),
      n('a2', 'zone-a'),
      n('b1', 'zone-b'),
      n('b2', 'zone-b'),
      n('c1', 'zone-c', full),
      n('c2', 'zone-c', full),
    ];
    const r = schedule(nodes, 4, [hard()]);
    expect(perZone(nodes, r.placements)).toEqual({ 'zone-a': 1, 'zone-b': 1 });
    expect(r.unplaced).toBe(2);
    expect(r.capacity).toBe(6);
    expect(r.summary).toBe(
      "2 nodes amd64/linux: node is full (0 of its agent's 0 instances); 2 nodes amd64/linux: TopologySpread: topology.kubernetes.io/zone maxSkew 1 would be exceeded (zone-a 1, zone-b 1, zone-c 0)",
    );
    expect(r.skipped).toBe('');
    // ScheduleAnyway places them all, still preferring balance
    const any = schedule(nodes, 4, [soft()]);
    expect(any.unplaced).toBe(0);
    expect(perZone(nodes, any.placements)).toEqual({ 'zone-a': 2, 'zone-b': 2 });
  });

  it('a larger maxSkew lets a zone run ahead by that much', () => {
    const full = { maxInstances: 0 };
    const nodes = [n('a1', 'zone-a'), n('a2', 'zone-a'), n('a3', 'zone-a'), n('c1', 'zone-c', full)];
    expect(schedule(nodes, 3, [hard(2)]).placements).toHaveLength(2);
  });

  it('a zone with only nodes of another arch is not a domain for an x86-only archive', () => {
    const nodes = [
      n('a1', 'zone-a'),
      n('a2', 'zone-a'),
      n('a3', 'zone-a'),
      n('b1', 'zone-b'),
      n('b2', 'zone-b'),
      n('b3', 'zone-b'),
      arm('c1', 'zone-c'),
      arm('c2', 'zone-c'),
    ];
    const r = schedule(nodes, 6, [hard()]);
    expect(r.unplaced).toBe(0);
    expect(perZone(nodes, r.placements)).toEqual({ 'zone-a': 3, 'zone-b': 3 });
  });

  it('minDomains 3 with two zones: one replica per zone, the rest unplaced', () => {
    const nodes = [n('a1', 'zone-a'), n('a2', 'zone-a'), n('b1', 'zone-b'), n('b2', 'zone-b')];
    const r = schedule(nodes, 4, [hard(1, 3)]);
    expect(perZone(nodes, r.placements)).toEqual({ 'zone-a': 1, 'zone-b': 1 });
    expect(r.unplaced).toBe(2);
    expect(r.summary).toContain('maxSkew 1 would be exceeded (zone-a 1, zone-b 1)');
  });

  it('under DoNotSchedule a node without the label is skipped for what it is; under ScheduleAnyway it is used last', () => {
    const nodes = [n('a1', 'zone-a'), n('b1', 'zone-b'), n('bare', undefined)];
    const r = schedule(nodes, 3, [hard()]);
    expect(r.placements.map((p) => p.node).sort()).toEqual(['a1', 'b1']);
    expect(r.capacity).toBe(2);
    expect(r.skipped).toBe('1 node amd64/linux: TopologySpread: no label topology.kubernetes.io/zone');
    expect(topologyKeyFilter([hard()]).name).toBe('TopologySpreadKey');
    expect(topologyKeyFilter([soft()]).check(nodes[2], { archiveTargets: x86, occupied: new Set() })).toBeUndefined();
    const any = schedule(nodes, 2, [soft()]);
    expect(any.placements.map((p) => p.node).sort()).toEqual(['a1', 'b1']);
    expect(schedule(nodes, 3, [soft()]).placements).toHaveLength(3);
  });

  it('ScheduleAnyway: replicas on a node without the label count toward no domain', () => {
    // a1 is loaded by other Providers, so the unlabelled node wins twice in a row
    const r = scheduleReplicas({
      nodes: [n('a1', 'zone-a'), n('bare', undefined)],
      count: 2,
      archiveTargets: x86,
      occupied: new Set(),
      allowMultiplePerNode: true,
      load: new Map([['a1', 50]]),
      previous: new Set(),
      topologySpread: [soft()],
    });
    expect(r.placements.map((p) => p.node)).toEqual(['bare', 'bare']);
  });

  it('several per node: spreads over zones before stacking, and stops at the skew', () => {
    const nodes = [n('a1', 'zone-a'), n('b1', 'zone-b', { maxInstances: 1 })];
    const r = scheduleReplicas({
      nodes,
      count: 4,
      archiveTargets: x86,
      occupied: new Set(),
      allowMultiplePerNode: true,
      load: new Map(),
      previous: new Set(),
      topologySpread: [hard()],
    });
    expect(r.placements.map((p) => p.node).sort()).toEqual(['a1', 'a1', 'b1']);
    expect(r.unplaced).toBe(1);
  });
});

describe('spec.topologySpread validation', () => {
  it('refuses duplicate constraints, minDomains with ScheduleAnyway, maxSkew 0 and a bad key, each with its own message', () => {
    const msg = (v: unknown) => TopologySpread.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msg([hard(), hard(2)])).toEqual([': two constraints with the same topologyKey and whenUnsatisfiable']);
    expect(msg([{ ...soft(), minDomains: 2 }])).toEqual(['0.minDomains: minDomains is only allowed with whenUnsatisfiable DoNotSchedule']);
    expect(msg([hard(0)])?.[0]).toMatch(/^0\.maxSkew: /);
    expect(msg([{ ...hard(), topologyKey: 'bad key' }])?.[0]).toMatch(/^0\.topologyKey: /);
    expect(msg([hard(), soft()])).toBeUndefined();
  });
});
