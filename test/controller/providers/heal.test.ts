import { describe, it, expect } from 'vitest';
import { healPhase } from '../../../controller/providers/heal.js';
import { nodeView, type NodeLike } from '../../../controller/providers/scheduling/nodes.js';
import type { ProviderInstance } from '../../../api/index.js';
import { templateHashOf } from '../../../controller/providers/template-hash.js';

/** The template of an instance of archive sha256:new (instances here carry only the archive digest). */
const NEW = templateHashOf({ archive: { digest: 'sha256:new' } } as never);

const now = Date.now();
const node = (name: string, ready = true): NodeLike => ({
  metadata: { name, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const live = (name: string, ready = true) =>
  nodeView(
    node(name, ready),
    { metadata: { name: `gantry-agent-${name}` }, spec: { renewTime: new Date(now).toISOString() } },
    20_000,
    now,
  );
const inst = (name: string, nodeName: string, phase = 'Running', digest = 'sha256:new') =>
  ({
    metadata: { name, namespace: 'apps', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { nodeName, archive: { digest } },
    status: { phase },
  }) as unknown as ProviderInstance;

describe('heal phase', () => {
  it('marks instances on lost nodes and failed ones for removal, and keeps the rest', () => {
    const nodes = new Map([
      ['ok', live('ok')],
      ['down', live('down', false)],
      ['noagent', nodeView(node('noagent'), undefined, 20_000, now)],
    ]);
    const views = healPhase({
      active: [
        inst('a', 'ok'),
        inst('b', 'down'),
        inst('c', 'noagent'),
        inst('d', 'gone'),
        inst('e', 'ok', 'Failed'),
        inst('f', 'ok', 'Starting'),
      ],
      nodes,
    });
    expect(views.map((v) => [v.name, v.removeReason ?? null, v.ready])).toEqual([
      ['a', null, true],
      ['b', 'NodeNotReady', true],
      ['c', 'AgentLost', true],
      ['d', 'NodeDeleted', true],
      ['e', 'InstanceFailed', false],
      ['f', null, false],
    ]);
  });

  it('in Daemon mode removes an instance of the served digest from a node that no longer qualifies, not an old one', () => {
    const nodes = new Map([
      ['n1', live('n1')],
      ['n2', live('n2')],
    ]);
    const views = healPhase({
      active: [inst('a', 'n1'), inst('b', 'n2'), inst('c', 'n2', 'Running', 'sha256:old')],
      nodes,
      daemonNodes: new Set(['n1']),
      template: NEW,
    });
    expect(views.map((v) => [v.name, v.removeReason ?? null])).toEqual([
      ['a', null],
      ['b', 'NodeIneligible'],
      ['c', null],
    ]);
  });

  it('in Daemon mode keeps the reason found first: a failed instance or one on a lost node is not relabelled NodeIneligible', () => {
    const nodes = new Map([
      ['n1', live('n1')],
      ['down', live('down', false)],
    ]);
    const views = healPhase({
      active: [inst('a', 'n1', 'Failed'), inst('b', 'down'), inst('c', 'n1')],
      nodes,
      daemonNodes: new Set(['n2']),
      template: NEW,
    });
    expect(views.map((v) => [v.name, v.removeReason ?? null])).toEqual([
      ['a', 'InstanceFailed'],
      ['b', 'NodeNotReady'],
      ['c', 'NodeIneligible'],
    ]);
  });

  it('outside Daemon mode a served digest alone removes nothing', () => {
    const nodes = new Map([['n1', live('n1')]]);
    const views = healPhase({ active: [inst('a', 'n1')], nodes, template: NEW });
    expect(views.map((v) => [v.name, v.removeReason ?? null])).toEqual([['a', null]]);
  });

  it('an instance its agent has not reported on yet (no status) is kept and not ready; its creation time is carried', () => {
    const nodes = new Map([['n1', live('n1')]]);
    const fresh = {
      metadata: { name: 'new', namespace: 'apps' },
      spec: { nodeName: 'n1', archive: { digest: 'sha256:new' } },
    } as unknown as ProviderInstance;
    const views = healPhase({ active: [fresh, inst('old', 'n1')], nodes, daemonNodes: new Set(['n1']), template: NEW });
    expect(views).toEqual([
      { name: 'new', node: 'n1', template: NEW, ready: false, removeReason: undefined, createdAt: '' },
      { name: 'old', node: 'n1', template: NEW, ready: true, removeReason: undefined, createdAt: '2026-01-01T00:00:00Z' },
    ]);
  });
});

describe('heal phase: provider health', () => {
  it('a Running instance whose Ready condition is False (ProviderUnhealthy) is not ready, and is kept (liveness restarts it)', () => {
    const nodes = new Map([['n1', live('n1')]]);
    const withReady = (name: string, status: string) => {
      const i = inst(name, 'n1');
      (i.status as { conditions?: unknown[] }).conditions = [
        { type: 'HostCredentials', status: 'False' },
        { type: 'Ready', status, reason: status === 'False' ? 'ProviderUnhealthy' : 'HostReady' },
      ];
      return i;
    };
    const views = healPhase({
      active: [withReady('sick', 'False'), withReady('well', 'True'), inst('plain', 'n1')],
      nodes,
      template: 'anything',
    });
    expect(views.map((v) => [v.name, v.ready, v.removeReason ?? null])).toEqual([
      ['sick', false, null],
      ['well', true, null],
      ['plain', true, null],
    ]);
  });
});

describe('heal phase: instances their agent refused for its cap (InstanceLimit)', () => {
  const refused = (name: string, nodeName: string) => {
    const i = inst(name, nodeName, 'Pending');
    i.status = { ...i.status, reason: 'InstanceLimit' } as ProviderInstance['status'];
    return i;
  };
  const nodes = new Map([
    ['a', live('a')],
    ['b', live('b')],
  ]);
  const reasons = (roomOn?: () => ReadonlySet<string>) =>
    healPhase({ active: [refused('r', 'a'), inst('p', 'a', 'Pending'), inst('s', 'a', 'Starting')], nodes, roomOn }).map(
      (v) => v.removeReason,
    );

  it('moves a refused instance when another node has room', () => {
    expect(reasons(() => new Set(['b']))).toEqual(['InstanceLimit', undefined, undefined]);
  });

  it('leaves it waiting on its node when only that node (or none) has room, or room is not known', () => {
    expect(reasons(() => new Set(['a']))).toEqual([undefined, undefined, undefined]);
    expect(reasons(() => new Set())).toEqual([undefined, undefined, undefined]);
    expect(reasons()).toEqual([undefined, undefined, undefined]);
  });

  it('asks where there is room only when an instance was refused', () => {
    let asked = 0;
    healPhase({
      active: [inst('p', 'a', 'Pending')],
      nodes,
      roomOn: () => {
        asked++;
        return new Set(['b']);
      },
    });
    expect(asked).toBe(0);
  });
});

describe('heal phase: a cordoned node (kubectl drain)', () => {
  const cordoned = { ...live('c'), unschedulable: true };
  const nodes = new Map([
    ['c', cordoned],
    ['b', live('b')],
  ]);
  const reasons = (roomOn?: () => ReadonlySet<string>, daemon?: Set<string>) =>
    healPhase({ active: [inst('x', 'c'), inst('y', 'b')], nodes, roomOn, daemonNodes: daemon, template: NEW }).map((v) => v.removeReason);

  it('moves its instances when another node has room, and keeps those on schedulable nodes', () => {
    expect(reasons(() => new Set(['b']))).toEqual(['NodeCordoned', undefined]);
  });

  it('keeps them where they are while no other node has room (a drain does not take the last replica away)', () => {
    expect(reasons(() => new Set())).toEqual([undefined, undefined]);
    expect(reasons()).toEqual([undefined, undefined]);
  });

  it('leaves Daemon mode to NodeIneligible', () => {
    expect(reasons(() => new Set(['b']), new Set(['b']))).toEqual(['NodeIneligible', undefined]);
  });
});
