import { describe, it, expect } from 'vitest';
import { healPhase } from '../../controller/reconcile/heal.js';
import { nodeView, type NodeLike } from '../../controller/scheduling/nodes.js';
import type { ProviderInstance } from '../../api/index.js';

const now = Date.now();
const node = (name: string, ready = true): NodeLike => ({ metadata: { name, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
const live = (name: string, ready = true) => nodeView(node(name, ready), { metadata: { name: `gantry-agent-${name}` }, spec: { renewTime: new Date(now).toISOString() } }, 20_000, now);
const inst = (name: string, nodeName: string, phase = 'Running', digest = 'sha256:new') =>
  ({ metadata: { name, namespace: 'apps', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { nodeName, archive: { digest } }, status: { phase } }) as unknown as ProviderInstance;

describe('heal phase', () => {
  it('marks instances on lost nodes and failed ones for removal, and keeps the rest', () => {
    const nodes = new Map([['ok', live('ok')], ['down', live('down', false)], ['noagent', nodeView(node('noagent'), undefined, 20_000, now)]]);
    const views = healPhase({ active: [inst('a', 'ok'), inst('b', 'down'), inst('c', 'noagent'), inst('d', 'gone'), inst('e', 'ok', 'Failed'), inst('f', 'ok', 'Starting')], nodes });
    expect(views.map((v) => [v.name, v.removeReason ?? null, v.ready])).toEqual([
      ['a', null, true], ['b', 'NodeNotReady', true], ['c', 'AgentLost', true], ['d', 'NodeDeleted', true], ['e', 'InstanceFailed', false], ['f', null, false],
    ]);
  });

  it('in Daemon mode removes an instance of the served digest from a node that no longer qualifies, not an old one', () => {
    const nodes = new Map([['n1', live('n1')], ['n2', live('n2')]]);
    const views = healPhase({ active: [inst('a', 'n1'), inst('b', 'n2'), inst('c', 'n2', 'Running', 'sha256:old')], nodes, daemonNodes: new Set(['n1']), digest: 'sha256:new' });
    expect(views.map((v) => [v.name, v.removeReason ?? null])).toEqual([['a', null], ['b', 'NodeIneligible'], ['c', null]]);
  });
});
