import { describe, it, expect } from 'vitest';
import { scheduleReplicas } from '../../../../controller/providers/scheduling/scheduler.js';
import { nodeView, type NodeLike, type LeaseLike } from '../../../../controller/providers/scheduling/nodes.js';
import { lostReason, lostReasons, tolerates } from '../../../../controller/providers/scheduling/filters.js';

const now = Date.parse('2026-01-01T00:00:00Z');
function node(
  name: string,
  arch: string,
  os = 'linux',
  extra: Partial<NodeLike['spec']> & { ready?: boolean; labels?: Record<string, string> } = {},
): NodeLike {
  return {
    metadata: { name, labels: { 'kubernetes.io/arch': arch, 'kubernetes.io/os': os, ...extra.labels } },
    spec: { unschedulable: extra.unschedulable, taints: extra.taints },
    status: { conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }] },
  };
}
const lease = (name: string, ageMs = 0, target?: string, maxInstances?: string): LeaseLike => ({
  metadata: {
    name: `gantry-agent-${name}`,
    annotations: {
      ...(target ? { 'gantry.dev/target': target } : {}),
      ...(maxInstances !== undefined ? { 'gantry.dev/max-instances': maxInstances } : {}),
    } as Record<string, string>,
  },
  spec: { holderIdentity: name, renewTime: new Date(now - ageMs).toISOString() },
});
function views(ns: NodeLike[], leased = true) {
  return ns.map((n) => nodeView(n, leased ? lease(n.metadata.name) : undefined, 20_000, now));
}
const base = { occupied: new Set<string>(), load: new Map<string, number>(), previous: new Set<string>() };

describe('scheduleReplicas', () => {
  it('places only where the archive has a binary and explains the other node groups', () => {
    const ns = views([
      node('a1', 'amd64'),
      node('a2', 'amd64'),
      node('r1', 'arm64'),
      node('r2', 'arm64'),
      node('r3', 'arm64'),
      node('w1', 'amd64', 'windows'),
    ]);
    const r = scheduleReplicas({ ...base, nodes: ns, count: 4, archiveTargets: new Set(['x86_64-linux']) });
    expect(r.placements.map((p) => p.node).sort()).toEqual(['a1', 'a2']);
    expect(r.placements.every((p) => p.target === 'x86_64-linux')).toBe(true);
    expect(r.unplaced).toBe(2);
    expect(r.summary).toBe(
      '3 nodes arm64/linux: archive has no aarch64-linux binary; 1 node amd64/windows: archive has no x86_64-windows binary',
    );
    expect(r.noMatchingTarget).toBe(false);
    const none = scheduleReplicas({
      ...base,
      nodes: ns.filter((n) => n.name.startsWith('r')),
      count: 1,
      archiveTargets: new Set(['x86_64-linux']),
    });
    expect(none.noMatchingTarget).toBe(true);
  });

  it('spreads Providers scheduled at the same moment: ties between equally loaded nodes break differently per Provider', () => {
    const ns = views(Array.from({ length: 3 }, (_, i) => node(`n${i + 1}`, 'amd64')));
    const firstChoice = (provider: string) =>
      scheduleReplicas({ ...base, nodes: ns, count: 1, archiveTargets: new Set(['x86_64-linux']), tieBreak: provider }).placements[0].node;
    // the same Provider always gets the same answer (no churn between reconciles) …
    expect(firstChoice('default/echo')).toBe(firstChoice('default/echo'));
    // … while 12 Providers seeing the same empty cluster do not all pile onto one node
    const chosen = new Set(Array.from({ length: 12 }, (_, i) => firstChoice(`default/p${i}`)));
    expect(chosen.size).toBeGreaterThan(1);
    // load still wins over the tie-break
    const loaded = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 1,
      archiveTargets: new Set(['x86_64-linux']),
      tieBreak: 'default/echo',
      load: new Map([
        ['n1', 1],
        ['n2', 1],
      ]),
    });
    expect(loaded.placements[0].node).toBe('n3');
  });

  it('honours readiness, cordon, taints, nodeSelector, agent liveness and one-per-node', () => {
    const ns = [
      ...views([
        node('notready', 'amd64', 'linux', { ready: false }),
        node('cordoned', 'amd64', 'linux', { unschedulable: true }),
        node('tainted', 'amd64', 'linux', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
        node('other-zone', 'amd64', 'linux', { labels: { zone: 'b' } }),
        node('taken', 'amd64', 'linux', { labels: { zone: 'a' } }),
        node('good', 'amd64', 'linux', { labels: { zone: 'a' } }),
      ]),
      ...views([node('noagent', 'amd64', 'linux', { labels: { zone: 'a' } })], false),
      nodeView(node('staleagent', 'amd64', 'linux', { labels: { zone: 'a' } }), lease('staleagent', 25_000), 20_000, now),
    ];
    const r = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 3,
      archiveTargets: new Set(['x86_64-linux']),
      nodeSelector: {},
      occupied: new Set(['taken']),
    });
    expect(r.placements.map((p) => p.node).sort()).toEqual(['good', 'other-zone']);
    expect(r.summary).toContain('1 node amd64/linux: node is not Ready');
    expect(r.summary).toContain('node is cordoned');
    expect(r.summary).toContain('untolerated taint dedicated=db:NoSchedule');
    expect(r.summary).toContain('2 nodes amd64/linux: no live Gantry agent');
    expect(r.summary).toContain('already runs an instance of this Provider');
    const sel = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 3,
      archiveTargets: new Set(['x86_64-linux']),
      nodeSelector: { zone: 'a' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
    });
    expect(sel.placements.map((p) => p.node).sort()).toEqual(['good', 'taken']);
    expect(sel.summary).toContain('does not match nodeSelector zone=a');
  });

  it("reports every node group, occupancy included, and counts capacity without this Provider's own instances", () => {
    const ns = [...views([node('a', 'amd64'), node('b', 'amd64'), node('r', 'arm64')]), ...views([node('c', 'amd64')], false)];
    const r = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 1,
      archiveTargets: new Set(['x86_64-linux']),
      occupied: new Set(['a']),
      avoid: new Set(['b']),
    });
    expect(r.placements).toEqual([]);
    expect(r.unplaced).toBe(1);
    expect(r.capacity).toBe(2); // a and b could run one; c has no agent, r no binary
    expect(r.summary).toBe(
      '1 node amd64/linux: already runs an instance of this Provider; 1 node amd64/linux: an instance failed here recently; 1 node amd64/linux: no live Gantry agent; 1 node arm64/linux: archive has no aarch64-linux binary',
    );
    expect(r.skipped).toBe('1 node amd64/linux: no live Gantry agent; 1 node arm64/linux: archive has no aarch64-linux binary');
    const none = scheduleReplicas({ ...base, nodes: [], count: 2, archiveTargets: new Set(['x86_64-linux']) });
    expect(none.summary).toBe('no nodes');
  });

  it('scores by fewest instances, then keeps previous placements', () => {
    const ns = views([node('n1', 'amd64'), node('n2', 'amd64'), node('n3', 'amd64')]);
    const r = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 1,
      archiveTargets: new Set(['x86_64-linux']),
      load: new Map([
        ['n1', 3],
        ['n2', 1],
        ['n3', 1],
      ]),
      previous: new Set(['n3']),
    });
    expect(r.placements.map((p) => p.node)).toEqual(['n3']);
    const multi = scheduleReplicas({
      ...base,
      nodes: ns.slice(0, 2),
      count: 4,
      archiveTargets: new Set(['x86_64-linux']),
      allowMultiplePerNode: true,
      load: new Map([['n1', 2]]),
    });
    expect(multi.placements.map((p) => p.node).sort()).toEqual(['n1', 'n2', 'n2', 'n2']);
  });

  it('prefers the target the agent publishes over the node labels', () => {
    const v = nodeView(node('x', 'amd64'), lease('x', 0), 20_000, now);
    expect(v.target).toBe('x86_64-linux');
    const v2 = nodeView(node('y', 'amd64'), lease('y', 0, 'aarch64-linux'), 20_000, now);
    expect(v2.target).toBe('aarch64-linux');
  });
});

describe('heal: lostReason', () => {
  it('names node deletion, NotReady, NoExecute taints and agent loss', () => {
    const [ok] = views([node('ok', 'amd64')]);
    expect(lostReason(ok, undefined)).toBeUndefined();
    expect(lostReason(undefined, undefined)).toBe('NodeDeleted');
    expect(lostReason(views([node('nr', 'amd64', 'linux', { ready: false })])[0], undefined)).toBe('NodeNotReady');
    const ne = views([node('ne', 'amd64', 'linux', { taints: [{ key: 'evict', effect: 'NoExecute' }] })])[0];
    expect(lostReason(ne, undefined)).toBe('NoExecuteTaint');
    expect(lostReason(ne, [{ key: 'evict', operator: 'Exists' }])).toBeUndefined();
    expect(lostReason(nodeView(node('old', 'amd64'), lease('old', 21_000), 20_000, now), undefined)).toBe('AgentLost');
    // the removal path drops finalizers for exactly the reasons lostReason gives
    const given = [
      lostReason(undefined, undefined),
      lostReason(views([node('nr', 'amd64', 'linux', { ready: false })])[0], undefined),
      lostReason(ne, undefined),
      lostReason(nodeView(node('old', 'amd64'), lease('old', 21_000), 20_000, now), undefined),
    ];
    expect(new Set(given)).toEqual(lostReasons);
    expect(tolerates([{ operator: 'Exists' }], { key: 'any', effect: 'NoSchedule' })).toBe(true);
  });
});

describe('PreferNoSchedule', () => {
  it('uses a PreferNoSchedule node only when nothing better is left, unless tolerated', () => {
    const ns = views([node('soft', 'amd64', 'linux', { taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), node('clean', 'amd64')]);
    const one = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 1,
      archiveTargets: new Set(['x86_64-linux']),
      load: new Map([['clean', 5]]),
    });
    expect(one.placements.map((p) => p.node)).toEqual(['clean']);
    const two = scheduleReplicas({ ...base, nodes: ns, count: 2, archiveTargets: new Set(['x86_64-linux']) });
    expect(two.placements.map((p) => p.node).sort()).toEqual(['clean', 'soft']);
    const tol = scheduleReplicas({
      ...base,
      nodes: ns,
      count: 1,
      archiveTargets: new Set(['x86_64-linux']),
      load: new Map([['clean', 5]]),
      tolerations: [{ key: 'spot', operator: 'Exists' }],
    });
    expect(tol.placements.map((p) => p.node)).toEqual(['soft']);
  });
});

describe('scheduleReplicas under agent instance caps (NodeFull)', () => {
  const capped = (caps: Record<string, string | undefined>) =>
    Object.entries(caps).map(([n, cap]) => nodeView(node(n, 'amd64'), lease(n, 0, undefined, cap), 20_000, now));
  const x86 = new Set(['x86_64-linux']);

  it('several per node: fills a capped node to its cap and the rest go elsewhere', () => {
    const r = scheduleReplicas({ ...base, nodes: capped({ a: '2', b: '10' }), count: 6, allowMultiplePerNode: true, archiveTargets: x86 });
    const on = (n: string) => r.placements.filter((p) => p.node === n).length;
    expect([on('a'), on('b'), r.unplaced]).toEqual([2, 4, 0]);
  });

  it("counts every Provider's instances already on the node", () => {
    const load = new Map([['a', 1]]);
    const r = scheduleReplicas({
      ...base,
      load,
      nodes: capped({ a: '2', b: '10' }),
      count: 6,
      allowMultiplePerNode: true,
      archiveTargets: x86,
    });
    expect(r.placements.filter((p) => p.node === 'a')).toHaveLength(1);
    expect(r.placements).toHaveLength(6);
  });

  it('when every node fills up, the rest stay unplaced and the summary says the nodes are full', () => {
    const r = scheduleReplicas({ ...base, nodes: capped({ a: '1', b: '2' }), count: 5, allowMultiplePerNode: true, archiveTargets: x86 });
    expect(r.placements).toHaveLength(3);
    expect(r.unplaced).toBe(2);
    expect(r.summary).toBe(
      "1 node amd64/linux: node is full (1 of its agent's 1 instances); 1 node amd64/linux: node is full (2 of its agent's 2 instances)",
    );
  });

  it('one per node: a full node is turned away with its own reason and still counts toward capacity', () => {
    const load = new Map([['a', 3]]);
    const r = scheduleReplicas({ ...base, load, nodes: capped({ a: '3', b: undefined }), count: 2, archiveTargets: x86 });
    expect(r.placements.map((p) => p.node)).toEqual(['b']);
    expect(r.unplaced).toBe(1);
    expect(r.summary).toBe("1 node amd64/linux: node is full (3 of its agent's 3 instances)");
    expect(r.capacity).toBe(2);
    expect(r.skipped).toBe('');
  });

  it('a node whose agent publishes a bad cap takes nothing, and says so', () => {
    const r = scheduleReplicas({ ...base, nodes: capped({ a: 'lots' }), count: 1, archiveTargets: x86 });
    expect(r.placements).toEqual([]);
    expect(r.summary).toBe('1 node amd64/linux: node is full: its agent Lease has no valid gantry.dev/max-instances');
  });
});
