/**
 * The two controllers a real control plane runs that clients rely on: the namespace
 * controller (a deleted namespace turns Terminating, its contents are deleted, then it goes)
 * and the ownerReference garbage collector (background: dependents whose owners are all gone
 * are deleted; foreground: the owner keeps the `foregroundDeletion` finalizer until its
 * dependents are gone; orphan: dependents lose the ownerReference, then the `orphan`
 * finalizer is dropped). Both react to store commits and do their work on the next tick, so a
 * write never recurses into another write.
 */
import { CRD_CLEANUP_FINALIZER } from './deletion.js';
import type { ResourceHandlers } from './handlers.js';
import { PATCH_TYPES } from './patch.js';
import { CRD_RESOURCE, type ResourceRegistry } from './registry.js';
import type { Store, StoreEvent } from './store.js';
import type { KObject, RequestScope, ResourceType } from './types.js';

interface Ref {
  resource: string;
  ns: string;
  name: string;
}

const refKey = (r: Ref) => `${r.resource}|${r.ns}|${r.name}`;
const parseRef = (k: string): Ref => {
  const [resource, ns, name] = k.split('|');
  return { resource, ns, name };
};

export class Controllers {
  private readonly byUid = new Map<string, Ref>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly queue = new Set<string>();
  private scheduled: NodeJS.Immediate | undefined;
  private stopped = false;
  private unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly registry: ResourceRegistry,
    private readonly handlers: ResourceHandlers,
  ) {
    for (const resource of store.resources()) for (const o of store.list(resource)) this.index(resource, o, undefined);
    this.unsubscribe = store.onCommit((ev) => this.onEvent(ev));
    // Work left over from before a restart: held owners and dependents whose owners went away.
    for (const resource of store.resources()) {
      for (const o of store.list(resource)) {
        const f = o.metadata.finalizers ?? [];
        if (o.metadata.deletionTimestamp && (f.includes('orphan') || f.includes('foregroundDeletion')))
          this.enqueue(`owner|${o.metadata.uid}`);
        if ((o.metadata.ownerReferences ?? []).some((r) => !this.byUid.has(r.uid)))
          this.enqueue(`dep|${refKey({ resource, ns: o.metadata.namespace ?? '', name: o.metadata.name! })}`);
      }
    }
    for (const o of store.list('namespaces')) if (o.metadata.deletionTimestamp) this.enqueue(`ns|${o.metadata.name}`);
    for (const o of store.list(CRD_RESOURCE)) if (o.metadata.deletionTimestamp) this.enqueue(`crd|${o.metadata.name}`);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    if (this.scheduled) clearImmediate(this.scheduled);
  }

  private index(resource: string, o: KObject, prev: KObject | undefined): void {
    const me = refKey({ resource, ns: o.metadata.namespace ?? '', name: o.metadata.name! });
    if (o.metadata.uid) this.byUid.set(o.metadata.uid, { resource, ns: o.metadata.namespace ?? '', name: o.metadata.name! });
    for (const r of prev?.metadata.ownerReferences ?? []) this.dependents.get(r.uid)?.delete(me);
    for (const r of o.metadata.ownerReferences ?? []) {
      let s = this.dependents.get(r.uid);
      if (!s) {
        s = new Set();
        this.dependents.set(r.uid, s);
      }
      s.add(me);
    }
  }

  private onEvent(ev: StoreEvent): void {
    const o = ev.object;
    const me = refKey({ resource: ev.resource, ns: o.metadata.namespace ?? '', name: o.metadata.name! });
    if (ev.type === 'DELETED') {
      if (o.metadata.uid) this.byUid.delete(o.metadata.uid);
      for (const r of o.metadata.ownerReferences ?? []) {
        this.dependents.get(r.uid)?.delete(me);
        this.enqueue(`owner|${r.uid}`);
      }
      for (const d of this.dependents.get(o.metadata.uid ?? '') ?? []) this.enqueue(`dep|${d}`);
      if (o.metadata.namespace) this.enqueue(`ns|${o.metadata.namespace}`);
      const [group, plural] = ev.resource.includes('/') ? ev.resource.split('/') : ['', ev.resource];
      if (group && this.store.get(CRD_RESOURCE, '', `${plural}.${group}`)?.metadata.deletionTimestamp)
        this.enqueue(`crd|${plural}.${group}`);
      return;
    }
    this.index(ev.resource, o, ev.prev);
    if (o.metadata.deletionTimestamp) {
      if (ev.resource === 'namespaces') this.enqueue(`ns|${o.metadata.name}`);
      if (ev.resource === CRD_RESOURCE) this.enqueue(`crd|${o.metadata.name}`);
      const f = o.metadata.finalizers ?? [];
      if (f.includes('orphan') || f.includes('foregroundDeletion')) this.enqueue(`owner|${o.metadata.uid}`);
      if (o.metadata.namespace) this.enqueue(`ns|${o.metadata.namespace}`);
    }
    // An ownerReference to an object that does not exist makes the dependent garbage.
    if ((o.metadata.ownerReferences ?? []).length && !ev.prev) this.enqueue(`dep|${me}`);
  }

  private enqueue(item: string): void {
    if (this.stopped) return;
    this.queue.add(item);
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.drain();
    });
  }

  private drain(): void {
    const items = [...this.queue];
    this.queue.clear();
    for (const item of items) {
      try {
        const [kind, ...rest] = item.split('|');
        if (kind === 'ns') this.finishNamespace(rest.join('|'));
        else if (kind === 'owner') this.processOwner(rest.join('|'));
        else if (kind === 'dep') this.processDependent(parseRef(rest.join('|')));
        else if (kind === 'crd') this.finishCrd(rest.join('|'));
      } catch {
        // The object changed under us (deleted, conflict); a later event re-queues it.
      }
    }
  }

  private scope(rt: ResourceType, ns: string, name: string, manager: string): RequestScope {
    return { rt, version: rt.versions[0], namespace: ns, name, query: new URLSearchParams({ fieldManager: manager }), userAgent: manager };
  }

  private processDependent(ref: Ref): void {
    const rt = this.registry.byKey(ref.resource);
    const o = this.store.get(ref.resource, ref.ns, ref.name);
    if (!rt || !o || o.metadata.deletionTimestamp) return;
    const owners = o.metadata.ownerReferences ?? [];
    if (owners.length === 0 || owners.some((r) => this.byUid.has(r.uid))) return;
    this.handlers.delete(this.scope(rt, ref.ns, ref.name, 'generic-garbage-collector'), { propagationPolicy: 'Background' });
  }

  private processOwner(uid: string): void {
    const ref = this.byUid.get(uid);
    if (!ref) return;
    const rt = this.registry.byKey(ref.resource);
    const owner = this.store.get(ref.resource, ref.ns, ref.name);
    if (!rt || !owner?.metadata.deletionTimestamp) return;
    const fins = owner.metadata.finalizers ?? [];
    const deps = [...(this.dependents.get(uid) ?? [])].map(parseRef);
    if (fins.includes('orphan')) {
      for (const d of deps) {
        const drt = this.registry.byKey(d.resource);
        const dep = this.store.get(d.resource, d.ns, d.name);
        if (!drt || !dep) continue;
        const left = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        this.handlers.patch(
          this.scope(drt, d.ns, d.name, 'generic-garbage-collector'),
          PATCH_TYPES.merge,
          JSON.stringify({ metadata: { ownerReferences: left.length ? left : null } }),
        );
      }
      this.dropFinalizer(rt, owner, 'orphan');
      return;
    }
    if (fins.includes('foregroundDeletion')) {
      let blocking = 0;
      for (const d of deps) {
        const drt = this.registry.byKey(d.resource);
        const dep = this.store.get(d.resource, d.ns, d.name);
        if (!drt || !dep) continue;
        blocking++;
        if (!dep.metadata.deletionTimestamp)
          this.handlers.delete(this.scope(drt, d.ns, d.name, 'generic-garbage-collector'), { propagationPolicy: 'Foreground' });
      }
      if (blocking === 0) this.dropFinalizer(rt, owner, 'foregroundDeletion');
    }
  }

  private dropFinalizer(rt: ResourceType, o: KObject, finalizer: string): void {
    const left = (o.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    this.handlers.patch(
      this.scope(rt, o.metadata.namespace ?? '', o.metadata.name!, 'generic-garbage-collector'),
      PATCH_TYPES.merge,
      JSON.stringify({ metadata: { finalizers: left.length ? left : null } }),
    );
  }

  /** A deleted CRD: delete its instances (their finalizers still hold them), then let it go. */
  private finishCrd(name: string): void {
    const crd = this.store.get(CRD_RESOURCE, '', name);
    const crdRt = this.registry.byKey(CRD_RESOURCE);
    if (!crd || !crdRt || !crd.metadata.deletionTimestamp) return;
    const key = `${crd.spec?.group}/${crd.spec?.names?.plural}`;
    const rt = this.registry.byKey(key);
    let remaining = 0;
    if (rt) {
      for (const o of this.store.list(key)) {
        remaining++;
        if (!o.metadata.deletionTimestamp)
          this.handlers.delete(this.scope(rt, o.metadata.namespace ?? '', o.metadata.name!, 'customresourcecleanup-controller'), {
            propagationPolicy: 'Background',
          });
      }
    }
    if (remaining === 0 && (crd.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER))
      this.dropFinalizer(crdRt, crd, CRD_CLEANUP_FINALIZER);
  }

  private finishNamespace(name: string): void {
    const ns = this.store.get('namespaces', '', name);
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const rt of this.registry.all()) {
      if (!rt.namespaced) continue;
      for (const o of this.store.list(rt.group ? `${rt.group}/${rt.plural}` : rt.plural, name)) {
        remaining++;
        if (!o.metadata.deletionTimestamp)
          this.handlers.delete(this.scope(rt, name, o.metadata.name!, 'namespace-controller'), { propagationPolicy: 'Background' });
      }
    }
    if (remaining > 0 || (ns.metadata.finalizers ?? []).length > 0) return;
    // What /finalize does: drop the spec finalizer, then the namespace can go.
    this.store.update('namespaces', { ...ns, spec: { ...(ns.spec ?? {}), finalizers: [] } }, 'namespaces', '');
    this.store.remove('namespaces', '', name, 'namespaces', '');
  }
}
