/**
 * Node views: a Node joined with its agent Lease, re-read one node at a time, with the agent's
 * live → lost transition announced when its Lease expires (no watch event says so).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { NodeViews } from '../../../controller/providers/node-views.js';
import type { LeaseLike, NodeLike } from '../../../controller/providers/scheduling/nodes.js';

const node = (name: string, ready = true): NodeLike => ({
  metadata: { name, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const lease = (name: string, renewedAt: number, target?: string): LeaseLike => ({
  metadata: { name: `gantry-agent-${name}`, ...(target ? { annotations: { 'gantry.dev/target': target } } : {}) },
  spec: { holderIdentity: name, renewTime: new Date(renewedAt).toISOString() },
});

let views: NodeViews | undefined;
afterEach(() => views?.stop());

function setup(graceMs: number) {
  const nodes = new Map<string, NodeLike>();
  const leases = new Map<string, LeaseLike>();
  const log: string[] = [];
  views = new NodeViews({
    node: (n) => nodes.get(n),
    lease: (n) => leases.get(n),
    graceMs,
    onAgentLive: (n) => log.push(`live ${n}`),
    onAgentLost: (n) => log.push(`lost ${n}`),
  });
  return { nodes, leases, log, views };
}

describe('NodeViews', () => {
  it("reads the agent's instance cap from its Lease, and a changed cap of a live agent counts as news (enqueue all)", () => {
    const { nodes, leases, log, views } = setup(20_000);
    const now = Date.now();
    nodes.set('n1', node('n1'));
    const capped = (cap?: string): LeaseLike => {
      const l: LeaseLike = {
        ...lease('n1', now),
        metadata: {
          name: 'gantry-agent-n1',
          annotations: cap === undefined ? {} : ({ 'gantry.dev/max-instances': cap } as Record<string, string>),
        },
      };
      leases.set('n1', l);
      return l;
    };
    views.leaseChanged(capped('2'), false, now);
    expect(views.all().get('n1')?.maxInstances).toBe(2);
    expect(log).toEqual(['live n1']);
    views.leaseChanged(capped('2'), false, now); // a renewal with the same cap: nothing new
    expect(log).toEqual(['live n1']);
    views.leaseChanged(capped('5'), false, now);
    expect(views.all().get('n1')?.maxInstances).toBe(5);
    expect(log).toEqual(['live n1', 'live n1']);
    views.leaseChanged(capped(), false, now);
    expect(views.all().get('n1')?.maxInstances).toBeUndefined();
    expect(log).toEqual(['live n1', 'live n1', 'live n1']);
    views.leaseChanged(capped('x'), false, now);
    expect(views.all().get('n1')?.maxInstances).toBeNaN();
    views.leaseChanged(capped('x'), false, now); // NaN is NaN: no news
    expect(log).toHaveLength(4);
  });

  it('joins a Node with its agent Lease, and follows either as it changes', () => {
    const { nodes, leases, log, views } = setup(20_000);
    const now = Date.now();
    nodes.set('n1', node('n1'));
    views.nodeChanged('n1', now);
    expect(views.all().get('n1')).toMatchObject({ ready: true, agentLive: false, target: 'x86_64-linux', platform: 'amd64/linux' });
    leases.set('n1', lease('n1', now, 'aarch64-linux'));
    views.leaseChanged(leases.get('n1')!, false, now);
    expect(views.all().get('n1')).toMatchObject({ agentLive: true, target: 'aarch64-linux' });
    expect(log).toEqual(['live n1']);
    views.leaseChanged(leases.get('n1')!, false, now); // a renewal is no transition
    expect(log).toEqual(['live n1']);
    nodes.set('n1', node('n1', false));
    views.nodeChanged('n1', now);
    expect(views.all().get('n1')?.ready).toBe(false);
    leases.delete('n1');
    views.leaseChanged(lease('n1', now), true, now);
    expect(log).toEqual(['live n1', 'lost n1']);
    nodes.delete('n1');
    views.nodeChanged('n1', now);
    expect(views.all().has('n1')).toBe(false);
    views.leaseChanged({ metadata: { name: 'not-an-agent-lease' } }, false, now); // ignored
    expect(log).toEqual(['live n1', 'lost n1']);
  });

  it('announces an agent lost when its Lease expires, with no event from the watch', async () => {
    const { nodes, leases, log, views } = setup(200);
    nodes.set('n1', node('n1'));
    leases.set('n1', lease('n1', Date.now()));
    views.leaseChanged(leases.get('n1')!);
    expect(views.all().get('n1')?.agentLive).toBe(true);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (!log.includes('lost n1')) return;
        clearInterval(poll);
        resolve();
      }, 20);
    });
    expect(log).toEqual(['live n1', 'lost n1']);
    expect(views.all().get('n1')?.agentLive).toBe(false);
  });

  it('a Lease already stale when first seen is lost at once', () => {
    const { nodes, leases, log, views } = setup(20_000);
    nodes.set('n2', node('n2'));
    leases.set('n2', lease('n2', Date.now() - 60_000));
    views.leaseChanged(leases.get('n2')!);
    expect(log).toEqual(['lost n2']);
  });
});
