/**
 * The scheduling filters one by one (controller/scheduling/filters.ts): toleration matching
 * the way Kubernetes defines it, which taint effects keep a node out or evict, the reason
 * each filter gives, and the order that decides which reason a node is reported under.
 */
import { describe, expect, it } from 'vitest';
import type { Toleration } from '../../../../api/provider.js';
import {
  archiveTarget,
  defaultFilters,
  nodeFull,
  lostReason,
  taintToleration,
  tolerates,
  type PlacementRequest,
} from '../../../../controller/providers/scheduling/filters.js';
import { type NodeView, parseMaxInstances, type Taint } from '../../../../controller/providers/scheduling/nodes.js';

const node = (extra: Partial<NodeView> = {}): NodeView => ({
  name: 'n',
  labels: {},
  platform: 'amd64/linux',
  ready: true,
  unschedulable: false,
  taints: [],
  target: 'x86_64-linux',
  agentLive: true,
  ...extra,
});
const req = (tolerations?: Toleration[]): PlacementRequest => ({
  archiveTargets: new Set(['x86_64-linux']),
  occupied: new Set(),
  tolerations,
});

describe('tolerates', () => {
  const gpu: Taint = { key: 'gpu', value: 'a100', effect: 'NoSchedule' };
  const bare: Taint = { key: 'spot', effect: 'NoSchedule' };
  it.each<[string, Toleration[] | undefined, Taint, boolean]>([
    ['no tolerations', undefined, gpu, false],
    ['Exists on the key', [{ key: 'gpu', operator: 'Exists' }], gpu, true],
    ['Equal with the value', [{ key: 'gpu', operator: 'Equal', value: 'a100' }], gpu, true],
    ['Equal with another value', [{ key: 'gpu', operator: 'Equal', value: 'h100' }], gpu, false],
    ['Equal without a value, taint with one', [{ key: 'gpu', operator: 'Equal' }], gpu, false],
    ['Equal with a value, taint without one', [{ key: 'spot', operator: 'Equal', value: 'yes' }], bare, false],
    ['Equal without a value, taint without one', [{ key: 'spot', operator: 'Equal' }], bare, true],
    ['another key', [{ key: 'cpu', operator: 'Exists' }], gpu, false],
    ['another key with the same value', [{ key: 'cpu', operator: 'Equal', value: 'a100' }], gpu, false],
    ['the matching effect', [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }], gpu, true],
    ['another effect', [{ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }], gpu, false],
    ['no key, Exists: everything', [{ operator: 'Exists' }], gpu, true],
    ['no key, Exists, another effect', [{ operator: 'Exists', effect: 'NoExecute' }], gpu, false],
    ['no key, Equal: nothing', [{ operator: 'Equal', value: 'a100' }], gpu, false],
    [
      'one of several matches',
      [
        { key: 'cpu', operator: 'Exists' },
        { key: 'gpu', operator: 'Exists' },
      ],
      gpu,
      true,
    ],
  ])('%s', (_, tolerations, taint, want) => {
    expect(tolerates(tolerations, taint)).toBe(want);
  });
});

describe('filters', () => {
  it('NoSchedule and NoExecute taints keep a node out unless tolerated; PreferNoSchedule does not', () => {
    const noSchedule = node({ taints: [{ key: 'gpu', value: 'a100', effect: 'NoSchedule' }] });
    expect(taintToleration.check(noSchedule, req())).toBe('untolerated taint gpu=a100:NoSchedule');
    expect(taintToleration.check(noSchedule, req([{ key: 'gpu', operator: 'Exists' }]))).toBeUndefined();
    const noExecute = node({ taints: [{ key: 'maintenance', effect: 'NoExecute' }] });
    expect(taintToleration.check(noExecute, req())).toBe('untolerated taint maintenance:NoExecute');
    expect(taintToleration.check(node({ taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), req())).toBeUndefined();
    // the first untolerated one is named
    const two = node({
      taints: [
        { key: 'a', effect: 'NoSchedule' },
        { key: 'b', effect: 'NoSchedule' },
      ],
    });
    expect(taintToleration.check(two, req([{ key: 'a', operator: 'Exists' }]))).toBe('untolerated taint b:NoSchedule');
  });

  it('a node whose target is unknown says which labels are missing', () => {
    expect(archiveTarget.check(node({ target: undefined }), req())).toBe('unknown arch/os (labels kubernetes.io/arch, kubernetes.io/os)');
    expect(archiveTarget.check(node({ target: 'aarch64-linux' }), req())).toBe('archive has no aarch64-linux binary');
    expect(archiveTarget.check(node(), req())).toBeUndefined();
  });

  it('run in the order that decides which reason a node is reported under', () => {
    expect(defaultFilters.map((f) => f.name)).toEqual([
      'NodeReady',
      'NodeUnschedulable',
      'TaintToleration',
      'NodeSelector',
      'ArchiveTarget',
      'AgentLive',
      'OnePerNode',
      'NodeFull',
      'RecentFailure',
    ]);
    expect(defaultFilters.filter((f) => f.occupancy).map((f) => f.name)).toEqual(['OnePerNode', 'NodeFull', 'RecentFailure']);
  });

  it('only an untolerated NoExecute taint evicts what already runs (lostReason)', () => {
    expect(lostReason(node({ taints: [{ key: 'gpu', effect: 'NoSchedule' }] }), undefined)).toBeUndefined();
    expect(lostReason(node({ taints: [{ key: 'gpu', effect: 'PreferNoSchedule' }] }), undefined)).toBeUndefined();
    expect(lostReason(node({ taints: [{ key: 'gone', effect: 'NoExecute' }] }), undefined)).toBe('NoExecuteTaint');
    expect(
      lostReason(node({ taints: [{ key: 'gone', effect: 'NoExecute' }] }), [{ key: 'gone', operator: 'Exists', effect: 'NoExecute' }]),
    ).toBeUndefined();
  });
});

describe('NodeFull (the agent instance cap)', () => {
  const load = (n: number) => ({ ...req(), load: new Map([['n', n]]) });
  it('keeps a node out once the instances bound to it (all Providers) reach its cap, saying how many of how many', () => {
    expect(nodeFull.check(node({ maxInstances: 2 }), load(1))).toBeUndefined();
    expect(nodeFull.check(node({ maxInstances: 2 }), load(2))).toBe("node is full (2 of its agent's 2 instances)");
    expect(nodeFull.check(node({ maxInstances: 2 }), load(3))).toBe("node is full (3 of its agent's 2 instances)");
    expect(nodeFull.check(node({ maxInstances: 1 }), req())).toBeUndefined(); // no load known: none counted
  });

  it('counts only the node itself', () => {
    const other = { ...req(), load: new Map([['elsewhere', 5]]) };
    expect(nodeFull.check(node({ maxInstances: 1 }), other)).toBeUndefined();
  });

  it('passes a node whose agent publishes no cap (an older agent)', () => {
    expect(nodeFull.check(node(), load(10_000))).toBeUndefined();
  });

  it('fails closed on a cap that is not a whole number: the node is full, and says why', () => {
    for (const bad of ['-1', 'ten', '1.5', '', '0x10', ' 2', '1e3', '1234567890'])
      expect([bad, nodeFull.check(node({ maxInstances: parseMaxInstances(bad) }), load(0))]).toEqual([
        bad,
        'node is full: its agent Lease has no valid gantry.dev/max-instances',
      ]);
  });

  it('a cap of 0 takes nothing', () => {
    expect(nodeFull.check(node({ maxInstances: 0 }), load(0))).toBe("node is full (0 of its agent's 0 instances)");
  });
});

describe('parseMaxInstances', () => {
  it('reads a whole number, undefined when absent, NaN otherwise', () => {
    expect(parseMaxInstances(undefined)).toBeUndefined();
    expect(parseMaxInstances('0')).toBe(0);
    expect(parseMaxInstances('110')).toBe(110);
    expect(parseMaxInstances('007')).toBe(7);
    expect(parseMaxInstances('-3')).toBeNaN();
    expect(parseMaxInstances('3a')).toBeNaN();
    expect(parseMaxInstances('a3')).toBeNaN();
  });
});
