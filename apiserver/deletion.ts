/**
 * DELETE of one object: the uid and resourceVersion preconditions, the propagation policy,
 * and what the delete becomes — Terminating for a Namespace (the namespace controller in gc.ts
 * empties it), a deletionTimestamp while finalizers remain (`foregroundDeletion`, `orphan`, a
 * CRD's cleanup finalizer, or the object's own), else removal from the store.
 */
import { errors } from './errors.js';
import { kubeTime } from '../runtime/toolkit/time.js';
import { CRD_RESOURCE } from './registry.js';
import type { Store } from './store.js';
import { isObject, presentAs, resourceKey, type KObject, type RequestScope, type ResourceType, type WriteResult } from './types.js';

export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

function checkPreconditions(rt: ResourceType, name: string, prev: KObject, opts: Record<string, unknown>): void {
  const pre = (opts.preconditions ?? {}) as { uid?: string; resourceVersion?: string };
  if (pre.uid && pre.uid !== prev.metadata.uid)
    throw errors.conflict(
      rt.plural,
      rt.group,
      name,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${prev.metadata.uid}`,
    );
  if (pre.resourceVersion && pre.resourceVersion !== prev.metadata.resourceVersion)
    throw errors.conflict(
      rt.plural,
      rt.group,
      name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ` +
        `ResourceVersion in object meta: ${prev.metadata.resourceVersion}`,
    );
}

/** The body's propagationPolicy, else the query's, else Orphan for `orphanDependents: true`. */
function propagationPolicy(s: RequestScope, opts: Record<string, unknown>): string | undefined {
  const policy =
    (opts.propagationPolicy as string | undefined) ??
    s.query.get('propagationPolicy') ??
    (opts.orphanDependents === true ? 'Orphan' : undefined);
  if (policy && !['Foreground', 'Background', 'Orphan'].includes(policy))
    throw errors.badRequest(`propagationPolicy must be one of Foreground, Background, Orphan; got ${policy}`);
  return policy;
}

/** The finalizers `prev` carries, plus the ones this delete's resource and policy add. */
function finalizersFor(rt: ResourceType, prev: KObject, policy: string | undefined): string[] {
  const finalizers = [...(prev.metadata.finalizers ?? [])];
  // A CRD stays (Terminating) until the cleanup controller has deleted its instances.
  if (resourceKey(rt) === CRD_RESOURCE && !finalizers.includes(CRD_CLEANUP_FINALIZER)) finalizers.push(CRD_CLEANUP_FINALIZER);
  if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
  if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
  return finalizers;
}

/** Delete `prev` (the object `s` names, as stored) with the DeleteOptions in `body`. */
export function deleteObject(store: Store, s: RequestScope, body: unknown, prev: KObject): WriteResult {
  const rt = s.rt;
  const opts = isObject(body) ? body : {};
  const answer = (o: KObject): WriteResult => ({ code: 200, body: presentAs(rt, s.version, o), warnings: [] });
  checkPreconditions(rt, s.name!, prev, opts);
  const policy = propagationPolicy(s, opts);
  const dryRun = s.query.get('dryRun') === 'All' || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All'));
  const key = resourceKey(rt);
  if (rt.plural === 'namespaces' && !rt.group) {
    // Namespaces always go through Terminating; the namespace controller empties them.
    if (!prev.metadata.deletionTimestamp && !dryRun) {
      const o = structuredClone(prev);
      o.metadata.deletionTimestamp = kubeTime();
      o.metadata.deletionGracePeriodSeconds = 0;
      o.status = { ...(o.status ?? {}), phase: 'Terminating' };
      return answer(store.update(key, o, rt.plural, rt.group, prev.metadata.resourceVersion));
    }
    return answer(prev);
  }
  const finalizers = finalizersFor(rt, prev, policy);
  if (finalizers.length > 0) {
    if (prev.metadata.deletionTimestamp && finalizers.length === (prev.metadata.finalizers ?? []).length) return answer(prev);
    const o = structuredClone(prev);
    o.metadata.finalizers = finalizers;
    if (!o.metadata.deletionTimestamp) {
      o.metadata.deletionTimestamp = kubeTime();
      o.metadata.deletionGracePeriodSeconds = 0;
      if (rt.generation && (o.metadata.generation ?? 0) > 0) o.metadata.generation = (o.metadata.generation ?? 0) + 1;
    }
    if (dryRun) return answer(o);
    return answer(store.update(key, o, rt.plural, rt.group, prev.metadata.resourceVersion));
  }
  if (dryRun) return answer(prev);
  const last = store.remove(key, prev.metadata.namespace ?? '', prev.metadata.name!, rt.plural, rt.group);
  if (rt.plural === 'pods' && !rt.group) return answer(last);
  return {
    code: 200,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: prev.metadata.name, group: rt.group, kind: rt.plural, uid: prev.metadata.uid },
    },
    warnings: [],
  };
}
