/**
 * The controller's instance index: instances per Provider and load per node, with this
 * controller's own creations and deletions counted before the watch shows them, and dropped
 * when the watch never does.
 */
import { describe, it, expect } from 'vitest';
import { InstanceIndex } from '../../../controller/providers/instance-index.js';
import { FailedNodes } from '../../../controller/providers/failed-nodes.js';
import type { ProviderInstance } from '../../../api/index.js';

const t0 = Date.parse('2026-01-01T00:00:00Z');
function inst(
  name: string,
  node: string,
  provider = 'kv',
  extra: { owned?: boolean; phase?: string; deleting?: boolean } = {},
): ProviderInstance {
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: {
      name,
      namespace: 'apps',
      labels: { 'gantry.dev/provider': provider, 'gantry.dev/node': node },
      ...(extra.owned === false
        ? {}
        : { ownerReferences: [{ apiVersion: 'gantry.dev/v1alpha1', kind: 'Provider', name: provider, uid: 'u', controller: true }] }),
      ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { provider, nodeName: node, archive: { ref: 'r/x', digest: 'sha256:1', revision: 1 }, target: 'x86_64-linux' },
    ...(extra.phase ? { status: { phase: extra.phase } } : {}),
  } as ProviderInstance;
}
const names = (l: ProviderInstance[]) => l.map((i) => i.metadata.name).sort();

describe('InstanceIndex', () => {
  it('indexes watched instances by Provider and counts load per node; instances no Provider controls are not ours', () => {
    const ix = new InstanceIndex();
    expect(ix.observeAdd(inst('kv-1', 'n1'))).toBe('apps/kv');
    expect(ix.observeAdd(inst('kv-2', 'n2'))).toBe('apps/kv');
    expect(ix.observeAdd(inst('db-1', 'n1', 'db'))).toBe('apps/db');
    expect(ix.observeAdd(inst('stray', 'n1', 'kv', { owned: false }))).toBeUndefined();
    expect(names(ix.instancesOf('apps/kv', t0))).toEqual(['kv-1', 'kv-2']);
    expect(Object.fromEntries(ix.load())).toEqual({ n1: 2, n2: 1 });
    expect([...ix.providersOn('n1')].sort()).toEqual(['apps/db', 'apps/kv']);
    expect(ix.observeDelete(inst('kv-2', 'n2'))).toBe('apps/kv');
    expect(Object.fromEntries(ix.load())).toEqual({ n1: 2 });
    expect([...ix.providerKeys()].sort()).toEqual(['apps/db', 'apps/kv']);
  });

  it('enqueues on an update only when what a reconcile reads changed', () => {
    const ix = new InstanceIndex();
    const a = inst('kv-1', 'n1', 'kv', { phase: 'Starting' });
    ix.observeAdd(a);
    expect(ix.observeUpdate({ ...a, status: { ...a.status!, message: 'still starting' } } as ProviderInstance, a)).toBeUndefined();
    const running = inst('kv-1', 'n1', 'kv', { phase: 'Running' });
    expect(ix.observeUpdate(running, a)).toBe('apps/kv');
    expect(ix.instancesOf('apps/kv', t0)[0].status?.phase).toBe('Running');
    expect(ix.observeUpdate(inst('kv-1', 'n1', 'kv', { phase: 'Running', deleting: true }), running)).toBe('apps/kv');
  });

  it('counts its own creation at once, and seeing it in the watch afterwards changes nothing', () => {
    const ix = new InstanceIndex(60_000);
    ix.expectCreated(inst('kv-1', 'n1'), t0);
    expect(names(ix.instancesOf('apps/kv', t0))).toEqual(['kv-1']);
    expect(ix.load().get('n1')).toBe(1);
    expect(ix.observeAdd(inst('kv-1', 'n1'))).toBeUndefined(); // expected: no reconcile
    expect(ix.load().get('n1')).toBe(1); // counted once
    expect(names(ix.instancesOf('apps/kv', t0 + 120_000))).toEqual(['kv-1']);
  });

  it('a creation the watch already delivered is not expected again', () => {
    const ix = new InstanceIndex();
    ix.observeAdd(inst('kv-1', 'n1'));
    ix.expectCreated(inst('kv-1', 'n1'), t0);
    expect(ix.load().get('n1')).toBe(1);
    expect(names(ix.instancesOf('apps/kv', t0))).toEqual(['kv-1']);
  });

  it('drops a creation whose event never comes after the TTL, and its load with it', () => {
    const ix = new InstanceIndex(60_000);
    ix.expectCreated(inst('kv-1', 'n1'), t0);
    expect(names(ix.instancesOf('apps/kv', t0 + 59_000))).toEqual(['kv-1']);
    expect(ix.instancesOf('apps/kv', t0 + 61_000)).toEqual([]);
    expect(ix.load().get('n1')).toBeUndefined();
  });

  it('stops counting its own deletion at once, and again counts an instance whose deletion event never came', () => {
    const ix = new InstanceIndex(60_000);
    ix.observeAdd(inst('kv-1', 'n1'));
    ix.observeAdd(inst('kv-2', 'n2'));
    ix.expectRemoved('apps/kv-1', t0);
    expect(names(ix.instancesOf('apps/kv', t0 + 1_000))).toEqual(['kv-2']);
    expect(names(ix.instancesOf('apps/kv', t0 + 61_000))).toEqual(['kv-1', 'kv-2']);
    ix.expectRemoved('apps/kv-2', t0);
    ix.observeDelete(inst('kv-2', 'n2'));
    expect(names(ix.instancesOf('apps/kv', t0 + 1_000))).toEqual(['kv-1']);
  });
});

describe('FailedNodes', () => {
  it('keeps a Provider away from a node where an instance failed, doubling per failure up to a cap', () => {
    const f = new FailedNodes({ firstMs: 10_000, maxMs: 25_000 });
    f.record('apps/kv', 'n1', t0);
    expect([...f.avoided('apps/kv', t0 + 9_999)]).toEqual(['n1']);
    expect(f.avoided('apps/kv', t0 + 10_000).size).toBe(0);
    expect(f.avoided('apps/other', t0).size).toBe(0);
    f.record('apps/kv', 'n1', t0); // second failure: 20 s
    expect([...f.avoided('apps/kv', t0 + 19_999)]).toEqual(['n1']);
    f.record('apps/kv', 'n1', t0); // third: 40 s, capped at 25 s
    expect([...f.avoided('apps/kv', t0 + 24_999)]).toEqual(['n1']);
    expect(f.avoided('apps/kv', t0 + 25_000).size).toBe(0);
    f.forget('apps/kv');
    f.record('apps/kv', 'n1', t0);
    expect(f.avoided('apps/kv', t0 + 10_000).size).toBe(0); // counting started over
  });
});
