/**
 * The instance index's edges (controller/instance-index.ts): what counts as "ours" (a
 * controller ownerReference of kind Provider, nothing less), events for instances it never saw,
 * the exact TTL boundaries of expectations, and which Providers a node runs.
 */
import { describe, expect, it } from 'vitest';
import type { ProviderInstance } from '../../../api/index.js';
import { InstanceIndex, providerKeyOf } from '../../../controller/providers/instance-index.js';

const t0 = Date.parse('2026-01-01T00:00:00Z');
function inst(
  name: string,
  node: string,
  o: { provider?: string; ref?: { kind: string; controller?: boolean } | null; phase?: string; finalizers?: string[] } = {},
): ProviderInstance {
  const provider = o.provider ?? 'kv';
  const ref = o.ref === undefined ? { kind: 'Provider', controller: true } : o.ref;
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: {
      name,
      namespace: 'apps',
      labels: { 'gantry.dev/provider': provider },
      ...(ref ? { ownerReferences: [{ apiVersion: 'gantry.dev/v1alpha1', name: provider, uid: 'u', ...ref }] } : {}),
      ...(o.finalizers ? { finalizers: o.finalizers } : {}),
    },
    spec: { provider, nodeName: node, archive: { ref: 'r/x', digest: 'sha256:1', revision: 1 }, target: 'x86_64-linux' },
    ...(o.phase ? { status: { phase: o.phase } } : {}),
  } as ProviderInstance;
}

describe('InstanceIndex edges', () => {
  it('only a controller reference of kind Provider makes an instance ours', () => {
    const ix = new InstanceIndex();
    expect(ix.observeAdd(inst('a', 'n1', { ref: { kind: 'Provider', controller: false } }))).toBeUndefined();
    expect(ix.observeAdd(inst('b', 'n1', { ref: { kind: 'ReplicaSet', controller: true } }))).toBeUndefined();
    expect(ix.observeUpdate(inst('b', 'n1', { ref: null, phase: 'Running' }), inst('b', 'n1', { ref: null }))).toBeUndefined();
    expect(ix.observeDelete(inst('b', 'n1', { ref: null }))).toBeUndefined();
    expect(ix.load().size).toBe(0);
    expect([...ix.providerKeys()]).toEqual([]);
    // the key comes from the controller reference, else the label
    expect(providerKeyOf(inst('c', 'n1', { provider: 'db' }))).toBe('apps/db');
    expect(providerKeyOf(inst('d', 'n1', { provider: 'db', ref: null }))).toBe('apps/db');
  });

  it('takes updates and deletions of instances it never saw without failing, and forgets a Provider with none left', () => {
    const ix = new InstanceIndex();
    expect(ix.observeUpdate(inst('x', 'n1', { phase: 'Running' }), inst('x', 'n1'))).toBe('apps/kv');
    expect(ix.observeDelete(inst('x', 'n1'))).toBe('apps/kv');
    expect(ix.load().size).toBe(0);
    ix.observeAdd(inst('y', 'n1'));
    expect([...ix.providerKeys()]).toEqual(['apps/kv']);
    ix.observeDelete(inst('y', 'n1'));
    expect([...ix.providerKeys()]).toEqual([]);
  });

  it('enqueues when finalizers come or go, not when nothing a reconcile reads changed', () => {
    const ix = new InstanceIndex();
    const a = inst('a', 'n1');
    ix.observeAdd(a);
    expect(ix.observeUpdate(inst('a', 'n1', { finalizers: ['gantry.dev/host'] }), a)).toBe('apps/kv');
    expect(ix.observeUpdate(inst('a', 'n1'), inst('a', 'n1', { finalizers: ['gantry.dev/host'] }))).toBe('apps/kv');
    expect(ix.observeUpdate(inst('a', 'n1'), a)).toBeUndefined();
  });

  it("enqueues when the agent refuses an instance (InstanceLimit) or stops refusing it, with the phase unchanged; not for another reason's change", () => {
    const ix = new InstanceIndex();
    const at = (reason?: string, message?: string) => {
      const i = inst('a', 'n1', { phase: 'Pending' });
      if (reason) i.status = { ...i.status, reason, ...(message ? { message } : {}) };
      return i;
    };
    ix.observeAdd(at());
    expect(ix.observeUpdate(at('InstanceLimit'), at())).toBe('apps/kv');
    expect(ix.observeUpdate(at(), at('InstanceLimit'))).toBe('apps/kv');
    expect(ix.observeUpdate(at('InstanceLimit', 'now 3rd in line'), at('InstanceLimit', 'now 4th in line'))).toBeUndefined();
    expect(ix.observeUpdate(at('CredentialsPending'), at())).toBeUndefined();
    expect(ix.observeUpdate(at('CredentialsPending'), at('FetchFailed'))).toBeUndefined();
  });

  it('holds expectations for exactly the TTL', () => {
    const ix = new InstanceIndex(1_000);
    ix.observeAdd(inst('gone', 'n1'));
    ix.expectRemoved('apps/gone', t0);
    expect(ix.instancesOf('apps/kv', t0 + 999)).toEqual([]);
    expect(ix.instancesOf('apps/kv', t0 + 1_000).map((i) => i.metadata.name)).toEqual(['gone']);
    const iy = new InstanceIndex(1_000);
    iy.expectCreated(inst('new', 'n2'), t0);
    expect(iy.instancesOf('apps/kv', t0 + 1_000).map((i) => i.metadata.name)).toEqual(['new']);
    expect(iy.instancesOf('apps/kv', t0 + 1_001)).toEqual([]);
    expect(iy.load().size).toBe(0);
  });

  it('names the Providers running on a node, and only on that node', () => {
    const ix = new InstanceIndex();
    ix.observeAdd(inst('kv-1', 'n1'));
    ix.observeAdd(inst('kv-2', 'n1'));
    ix.observeAdd(inst('db-1', 'n2', { provider: 'db' }));
    expect([...ix.providersOn('n1')]).toEqual(['apps/kv']);
    expect([...ix.providersOn('n2')]).toEqual(['apps/db']);
    expect([...ix.providersOn('n3')]).toEqual([]);
  });
});
