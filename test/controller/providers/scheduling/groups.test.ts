/**
 * Weighted spread over label groups (controller/providers/scheduling/groups.ts): the shares by
 * largest remainder, new replicas going to the groups below their share, and each group placed
 * on its own nodes with its reasons under its name.
 */
import { describe, expect, it } from 'vitest';
import { Spread, type SpreadGroup } from '../../../../api/spread.js';
import { allotments, groupOf, scheduleOverGroups, spreadShares } from '../../../../controller/providers/scheduling/groups.js';
import type { NodeView } from '../../../../controller/providers/scheduling/nodes.js';

const g = (name: string, weight?: number, sel: Record<string, string> = { region: name }): SpreadGroup => ({
  name,
  nodeSelector: sel,
  ...(weight ? { weight } : {}),
});
function n(name: string, region: string, arch = 'amd64'): NodeView {
  return {
    name,
    labels: { region, 'kubernetes.io/arch': arch },
    platform: `${arch}/linux`,
    ready: true,
    unschedulable: false,
    taints: [],
    target: arch === 'amd64' ? 'x86_64-linux' : 'aarch64-linux',
    agentLive: true,
  };
}

describe('spreadShares', () => {
  it('2:1 of 6 is 4/2; equal weights hand the remainder to the earlier groups; the default weight is 100', () => {
    expect(spreadShares([g('east', 2), g('west', 1)], 6)).toEqual([4, 2]);
    expect(spreadShares([g('a'), g('b'), g('c')], 2)).toEqual([1, 1, 0]);
    expect(spreadShares([g('a'), g('b', 50)], 3)).toEqual([2, 1]);
    expect(spreadShares([g('a', 1), g('b', 3)], 1)).toEqual([0, 1]);
    expect(spreadShares([g('a', 5)], 0)).toEqual([0]);
  });

  it('largest remainder: 1:1:1:3 of 5 is 1/1/1/2 (fractions .83 beat .5) and the sum is always the replicas', () => {
    expect(spreadShares([g('a', 1), g('b', 1), g('c', 1), g('d', 3)], 5)).toEqual([1, 1, 1, 2]);
    for (let replicas = 0; replicas <= 40; replicas++) {
      const shares = spreadShares([g('a', 7), g('b', 3), g('c', 1), g('d', 1)], replicas);
      expect(shares.reduce((x, y) => x + y, 0)).toBe(replicas);
    }
  });
});

describe('allotments', () => {
  it('fills the groups below their share, the furthest first, then a surge where the fewest are for the weight', () => {
    const gs = [g('east', 2), g('west', 1)];
    expect(allotments(gs, [4, 2], [0, 0], 6)).toEqual([4, 2]);
    expect(allotments(gs, [4, 2], [4, 0], 1)).toEqual([0, 1]);
    expect(allotments(gs, [4, 2], [3, 0], 2)).toEqual([0, 2]);
    expect(allotments(gs, [4, 2], [4, 2], 1)).toEqual([1, 0]);
    expect(allotments(gs, [4, 2], [5, 2], 0)).toEqual([0, 0]);
  });
});

describe('scheduleOverGroups', () => {
  const base = {
    archiveTargets: new Set(['x86_64-linux']),
    occupied: new Set<string>(),
    load: new Map<string, number>(),
    previous: new Set<string>(),
    allowMultiplePerNode: true,
  };
  const nodes = [n('e1', 'east'), n('e2', 'east'), n('w1', 'west'), n('w2', 'west'), n('s1', 'south')];

  it('weighted 2:1 over two groups with 6 replicas → 4/2, each inside its group; a node in no group is named', () => {
    const r = scheduleOverGroups({ ...base, nodes, count: 6, desired: 6, groups: [g('east', 2), g('west', 1)] });
    const at = (p: string) => r.placements.filter((x) => x.node.startsWith(p)).length;
    expect([at('e'), at('w'), at('s')]).toEqual([4, 2, 0]);
    expect(r.unplaced).toBe(0);
    expect(r.skipped).toBe('1 node amd64/linux: in no spread group');
  });

  it("a group that cannot take its share says so under the group's name; the other groups do not make up for it", () => {
    const armWest = [n('e1', 'east'), n('w1', 'west', 'arm64'), n('w2', 'west', 'arm64')];
    const r = scheduleOverGroups({
      ...base,
      allowMultiplePerNode: false,
      nodes: armWest,
      count: 3,
      desired: 3,
      groups: [g('east'), g('west', 200)],
    });
    expect(r.placements.map((p) => p.node)).toEqual(['e1']);
    expect(r.unplaced).toBe(2);
    expect(r.capacity).toBe(1);
    expect(r.summary).toBe('spread group west (2 replicas): 2 nodes arm64/linux: archive has no aarch64-linux binary');
    expect(r.noMatchingTarget).toBe(false);
  });

  it('counts live instances per group: one more replica goes to the group below its share', () => {
    const live = new Map([
      ['e1', 2],
      ['e2', 2],
      ['w1', 1],
    ]);
    const r = scheduleOverGroups({
      ...base,
      nodes,
      count: 1,
      desired: 6,
      groups: [g('east', 2), g('west', 1)],
      instances: live,
      load: live,
    });
    expect(r.placements.map((p) => p.node)).toEqual(['w2']);
  });

  it('a node belongs to the first group it matches; an empty selector matches every node', () => {
    const gs = [g('east'), g('all', 1, {})];
    expect(groupOf(gs, { region: 'east' })).toBe(0);
    expect(groupOf(gs, { region: 'west' })).toBe(1);
    expect(groupOf([g('east')], { region: 'west' })).toBe(-1);
  });
});

describe('spec.spread validation', () => {
  it('refuses duplicate names, weight 0 and an empty list, each with its own message', () => {
    const msg = (v: unknown) => Spread.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msg([g('a'), g('a')])).toEqual([': two spread groups with the same name']);
    expect(msg([{ name: 'a', weight: 0 }])?.[0]).toMatch(/^0\.weight: /);
    expect(msg([])?.[0]).toMatch(/^: /);
    expect(msg([{ name: 'Bad Name' }])?.[0]).toMatch(/^0\.name: /);
    expect(msg([g('a', 2), { name: 'b' }])).toBeUndefined();
  });
});
