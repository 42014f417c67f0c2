/**
 * The REST semantics of one resource, independent of HTTP: get/list/create/update/patch/delete
 * and the status and scale subresources, with the apiserver's rules for resourceVersion
 * preconditions, status/spec separation, generation, finalizers, field ownership and no-op
 * detection. Admission (defaulting, pruning, validation) is admission.ts, LIST paging
 * listing.ts, DELETE deletion.ts and the Scale mapping scale.ts. All of it is synchronous over
 * the Store, so a read-check-write can never interleave with another request.
 */
import { randomUUID, randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { admit, checkNamespace } from './admission.js';
import { serverSideApply } from './apply.js';
import { cloneData, jsonEqual, sameContent, sameObject } from './canonical.js';
import { deleteObject } from './deletion.js';
import { ApiError, errors } from './errors.js';
import { listPage, type ListPage } from './listing.js';
import { generatedNamePrefix } from './names.js';
import { kubeTime } from '../runtime/toolkit/time.js';
import type { TypeHints } from './fieldsets.js';
import { recordUpdate } from './managedfields.js';
import { CR_SMP_MESSAGE, jsonPatch, mergePatch, PATCH_TYPES, strategicMergePatch } from './patch.js';
import { scaledObject, scaleOf } from './scale.js';
import type { Store } from './store.js';
import {
  isObject,
  apiVersionOf,
  presentAs,
  resourceKey,
  type KObject,
  type RequestScope,
  type ResourceType,
  type WriteResult,
} from './types.js';
import { parseFieldValidation } from './validation.js';

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  const b = randomBytes(5);
  return [...b].map((x) => NAME_CHARS[x % NAME_CHARS.length]).join('');
}

export function managerName(scope: RequestScope): string {
  const fm = scope.query.get('fieldManager');
  if (fm) return fm;
  const ua = scope.userAgent ?? '';
  return ua.split('/')[0] || 'unknown';
}

const nameMismatch = (inBody: string | undefined, onUrl: string | undefined): ApiError =>
  errors.badRequest(`the name of the object (${inBody}) does not match the name on the URL (${onUrl})`);
const NAMESPACE_MISMATCH = 'the namespace of the provided object does not match the namespace sent on the request';

/**
 * The object an update stores, before admission: for /status only the request's status on
 * the live object, else the request's object with the live status (when the resource has a
 * status subresource); the identity and lifecycle fields (name, namespace, uid, creation and
 * deletion, generation, resourceVersion) are always the live object's.
 */
function updatedObject(rt: ResourceType, version: string, statusWrite: boolean, prev: KObject, next: KObject): KObject {
  let o: KObject;
  if (statusWrite && rt.status) {
    // /status takes only .status from the request; everything else stays as it was.
    o = { ...cloneData(prev), status: cloneData(next.status) };
    if (o.status === undefined) delete o.status;
    if (next.metadata?.managedFields) o.metadata.managedFields = next.metadata.managedFields;
  } else {
    o = cloneData(next);
    o.metadata = isObject(o.metadata) ? o.metadata : {};
    if (rt.status) {
      if (prev.status === undefined) delete o.status;
      else o.status = cloneData(prev.status);
    }
  }
  const m = o.metadata;
  m.name = prev.metadata.name;
  if (rt.namespaced) m.namespace = prev.metadata.namespace;
  else delete m.namespace;
  m.uid = prev.metadata.uid;
  m.creationTimestamp = prev.metadata.creationTimestamp;
  if (prev.metadata.deletionTimestamp) {
    m.deletionTimestamp = prev.metadata.deletionTimestamp;
    m.deletionGracePeriodSeconds = prev.metadata.deletionGracePeriodSeconds;
  } else {
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
  }
  if (rt.generation) m.generation = prev.metadata.generation;
  else delete m.generation;
  m.resourceVersion = prev.metadata.resourceVersion;
  o.apiVersion = apiVersionOf(rt.group, version);
  o.kind = rt.kind;
  return o;
}

/** An object being deleted may lose finalizers but gain none. */
function refuseNewFinalizers(rt: ResourceType, prev: KObject, o: KObject): void {
  if (!prev.metadata.deletionTimestamp) return;
  const before = new Set(prev.metadata.finalizers ?? []);
  const added = (o.metadata.finalizers ?? []).filter((f) => !before.has(f));
  if (added.length) {
    throw errors.invalid(rt.kind, rt.group, prev.metadata.name!, [
      {
        reason: 'FieldValueForbidden',
        message:
          'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ' +
          `[]string{${added.map((f) => JSON.stringify(f)).join(', ')}}` /* Go's %#v, as the real message */,
        field: 'metadata.finalizers',
      },
    ]);
  }
}

export class ResourceHandlers {
  constructor(private readonly store: Store) {}

  /** An object as a client of `version` sees it. */
  present(rt: ResourceType, version: string, o: KObject): KObject {
    return presentAs(rt, version, o);
  }

  private hints(rt: ResourceType, version: string): TypeHints {
    return { schema: rt.schemas?.[version], mergeKeys: rt.mergeKeys };
  }

  private key(rt: ResourceType): string {
    return resourceKey(rt);
  }

  private mustGet(s: RequestScope): KObject {
    const o = this.store.get(this.key(s.rt), s.rt.namespaced ? s.namespace : '', s.name!);
    if (!o) throw errors.notFound(s.rt.plural, s.rt.group, s.name!);
    return o;
  }

  get(s: RequestScope): unknown {
    const o = this.mustGet(s);
    if (s.subresource === 'scale') return scaleOf(s.rt, o);
    return this.present(s.rt, s.version, o);
  }

  list(s: RequestScope): ListPage {
    return listPage(this.store, s);
  }

  /** `appliedFields`: the managedFields of a server-side apply that creates the object. */
  create(s: RequestScope, body: unknown, appliedFields?: KObject['metadata']['managedFields']): WriteResult {
    const rt = s.rt;
    if (!isObject(body)) throw errors.badRequest('the request body must be a JSON or YAML object');
    // The body was decoded for this request alone, so it can become the stored object as is.
    const o = body as KObject;
    o.metadata = isObject(o.metadata) ? o.metadata : {};
    if (o.metadata.resourceVersion) throw errors.badRequest('resourceVersion should not be set on objects to be created');
    if (rt.namespaced) {
      if (o.metadata.namespace && s.namespace && o.metadata.namespace !== s.namespace) throw errors.badRequest(NAMESPACE_MISMATCH);
      o.metadata.namespace = s.namespace;
    } else delete o.metadata.namespace;
    if (!o.metadata.name && typeof o.metadata.generateName === 'string' && o.metadata.generateName)
      o.metadata.name = generatedNamePrefix(o.metadata.generateName) + randomSuffix();
    s = { ...s, name: o.metadata.name };
    checkNamespace(this.store, s, true);
    o.apiVersion = apiVersionOf(rt.group, s.version);
    o.kind = rt.kind;
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = kubeTime();
    delete o.metadata.deletionTimestamp;
    delete o.metadata.deletionGracePeriodSeconds;
    if (rt.generation) o.metadata.generation = 1;
    else delete o.metadata.generation;
    if (rt.status && (rt.custom || rt.group === 'apps')) delete o.status;
    const warnings = admit(s, o, parseFieldValidation(s.query.get('fieldValidation')), true);
    delete o.metadata.managedFields;
    if (appliedFields) o.metadata.managedFields = appliedFields;
    else recordUpdate(undefined, o, this.hints(rt, s.version), managerName(s), o.apiVersion, undefined, 'all');
    if (s.query.get('dryRun') === 'All') return { code: 201, body: o, warnings };
    const stored = this.store.create(this.key(rt), o, rt.plural, rt.group);
    return { code: 201, body: this.present(rt, s.version, stored), warnings };
  }

  /**
   * The shared update path: carry the immutable fields over, apply the status/spec split and
   * generation rules, admit, track field ownership, detect no-ops, finish deletions.
   */
  private commitUpdate(
    s: RequestScope,
    prev: KObject,
    next: KObject,
    opts: { manager: string; applied?: boolean; warnings?: string[] },
  ): WriteResult {
    const rt = s.rt;
    const statusWrite = s.subresource === 'status';
    if (next.metadata?.name !== undefined && next.metadata.name !== prev.metadata.name) {
      throw nameMismatch(next.metadata.name, prev.metadata.name);
    }
    if (rt.namespaced && next.metadata?.namespace && next.metadata.namespace !== prev.metadata.namespace) {
      throw errors.badRequest(NAMESPACE_MISMATCH);
    }
    const o = updatedObject(rt, s.version, statusWrite, prev, next);
    const m = o.metadata;
    refuseNewFinalizers(rt, prev, o);
    const fv = parseFieldValidation(s.query.get('fieldValidation'));
    const warnings = [...(opts.warnings ?? []), ...admit(s, o, fv, false, this.present(rt, s.version, prev))];
    if (rt.status && !statusWrite && prev.status !== undefined) o.status = cloneData(prev.status); // defaulting must not resurrect status
    if (rt.generation && !(statusWrite && rt.status) && !sameContent(prev, o, rt.status))
      m.generation = (prev.metadata.generation ?? 0) + 1;
    if (!opts.applied) this.recordOwnership(s, prev, next, o, opts.manager);
    if (sameObject(prev, o)) return { code: 200, body: this.present(rt, s.version, prev), warnings };
    if (s.query.get('dryRun') === 'All') return { code: 200, body: o, warnings };
    const key = this.key(rt);
    if (m.deletionTimestamp && (m.finalizers ?? []).length === 0) {
      this.store.update(key, o, rt.plural, rt.group, prev.metadata.resourceVersion);
      const last = this.store.remove(key, prev.metadata.namespace ?? '', prev.metadata.name!, rt.plural, rt.group);
      return { code: 200, body: this.present(rt, s.version, last), warnings };
    }
    const stored = this.store.update(key, o, rt.plural, rt.group, prev.metadata.resourceVersion);
    return { code: 200, body: this.present(rt, s.version, stored), warnings };
  }

  /**
   * Field ownership for a write that is not an apply: the change from `prev` to `o` goes to
   * `manager` (an Update entry). Managed fields a client sent changed are taken as the base.
   */
  private recordOwnership(s: RequestScope, prev: KObject, next: KObject, o: KObject, manager: string): void {
    const rt = s.rt;
    const statusWrite = s.subresource === 'status';
    const mfChangedByClient =
      next.metadata?.managedFields !== undefined && !jsonEqual(next.metadata.managedFields, prev.metadata.managedFields);
    const base = mfChangedByClient ? { ...prev, metadata: { ...prev.metadata, managedFields: next.metadata.managedFields } } : prev;
    o.metadata.managedFields = base.metadata.managedFields;
    recordUpdate(
      base,
      o,
      this.hints(rt, s.version),
      manager,
      o.apiVersion!,
      statusWrite ? 'status' : undefined,
      statusWrite ? 'status' : rt.status ? 'main' : 'all',
    );
  }

  update(s: RequestScope, body: unknown): WriteResult {
    if (!isObject(body)) throw errors.badRequest('the request body must be a JSON or YAML object');
    const next = body as KObject;
    if (next.metadata?.name && next.metadata.name !== s.name) throw nameMismatch(next.metadata.name, s.name);
    const prev = this.mustGet(s);
    if (s.subresource === 'scale') return this.writeScale(s, prev, next);
    const rv = next.metadata?.resourceVersion;
    if (!rv && s.rt.custom) {
      throw errors.invalid(s.rt.kind, s.rt.group, s.name!, [
        { reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' },
      ]);
    }
    if (rv && rv !== prev.metadata.resourceVersion) throw errors.conflict(s.rt.plural, s.rt.group, s.name!);
    return this.commitUpdate(s, prev, next, { manager: managerName(s) });
  }

  patch(s: RequestScope, contentType: string, raw: string): WriteResult {
    const rt = s.rt;
    const type = contentType.split(';')[0].trim().toLowerCase();
    if (type === PATCH_TYPES.strategic && rt.custom) throw errors.unsupportedMediaType(CR_SMP_MESSAGE);
    if (type === PATCH_TYPES.apply) return this.apply(s, raw);
    if (type !== PATCH_TYPES.merge && type !== PATCH_TYPES.json && type !== PATCH_TYPES.strategic) {
      throw errors.unsupportedMediaType(CR_SMP_MESSAGE + (rt.custom ? '' : `, ${PATCH_TYPES.strategic}`));
    }
    let patch: unknown;
    try {
      patch = JSON.parse(raw);
    } catch (e) {
      throw errors.badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const prev = this.mustGet(s);
    const view = s.subresource === 'scale' ? scaleOf(rt, prev) : this.present(rt, s.version, prev);
    let next: unknown;
    if (type === PATCH_TYPES.merge) next = mergePatch(view, patch);
    else if (type === PATCH_TYPES.json) next = jsonPatch(view, patch);
    else next = strategicMergePatch(view, patch, { ...(rt.mergeKeys ?? {}), finalizers: '' });
    if (!isObject(next)) throw errors.badRequest('the patch did not produce an object');
    const n = next as KObject;
    const rv = n.metadata?.resourceVersion;
    if (rv && rv !== (view as KObject).metadata.resourceVersion) throw errors.conflict(rt.plural, rt.group, s.name!);
    if (s.subresource === 'scale') return this.writeScale(s, prev, n);
    return this.commitUpdate(s, prev, n, { manager: managerName(s) });
  }

  private apply(s: RequestScope, raw: string): WriteResult {
    const rt = s.rt;
    const manager = s.query.get('fieldManager');
    if (!manager) throw errors.badRequest('PATCH, application/apply-patch+yaml requests require fieldManager');
    let applied: unknown;
    try {
      applied = parseYaml(raw);
    } catch (e) {
      throw errors.badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!isObject(applied)) throw errors.badRequest('the applied configuration must be an object');
    const a = applied as KObject;
    a.metadata = isObject(a.metadata) ? a.metadata : {};
    if (a.metadata.name && a.metadata.name !== s.name) throw nameMismatch(a.metadata.name, s.name);
    if (a.apiVersion && a.apiVersion !== apiVersionOf(rt.group, s.version))
      throw errors.badRequest(
        `the API version in the data (${a.apiVersion}) does not match the expected API version (${apiVersionOf(rt.group, s.version)})`,
      );
    if (a.kind && a.kind !== rt.kind && s.subresource !== 'scale')
      throw errors.badRequest(`the kind in the data (${a.kind}) does not match the expected kind (${rt.kind})`);
    const force = s.query.get('force') === 'true';
    const prev = this.store.get(this.key(rt), rt.namespaced ? s.namespace : '', s.name!);
    const hints = this.hints(rt, s.version);
    const scope = s.subresource === 'status' ? 'status' : rt.status ? 'main' : 'all';
    const apiVersion = apiVersionOf(rt.group, s.version);
    if (!prev) {
      if (s.subresource) throw errors.notFound(rt.plural, rt.group, s.name!);
      const merged = serverSideApply({ live: undefined, applied: a, manager, force, apiVersion, hints, scope: rt.status ? 'main' : 'all' });
      const managed = merged.metadata.managedFields;
      merged.metadata.name = s.name;
      return this.create(s, merged, managed);
    }
    const merged = serverSideApply({
      live: this.present(rt, s.version, prev),
      applied: a,
      manager,
      force,
      apiVersion,
      hints,
      subresource: s.subresource === 'status' ? 'status' : undefined,
      scope,
    });
    return this.commitUpdate(s, prev, merged, { manager, applied: true });
  }

  private writeScale(s: RequestScope, prev: KObject, scale: KObject): WriteResult {
    const rt = s.rt;
    // commitUpdate copies what it stores, so the stored object needs no deep copy here.
    const next = scaledObject(rt, this.present(rt, s.version, prev), scale);
    const res = this.commitUpdate({ ...s, subresource: undefined }, prev, next, { manager: managerName(s) });
    return { ...res, body: scaleOf(rt, res.body as KObject) };
  }

  /** DELETE on a collection: every object the selectors match, each as a single delete would. */
  deleteCollection(s: RequestScope, body: unknown): WriteResult {
    const rt = s.rt;
    const { items, rv } = this.list(s);
    const out: unknown[] = [];
    for (const o of items) {
      try {
        const r = this.delete({ ...s, namespace: o.metadata.namespace ?? '', name: o.metadata.name }, body);
        out.push(isObject(r.body) && (r.body as KObject).kind === 'Status' ? o : r.body);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return {
      code: 200,
      body: { kind: rt.listKind, apiVersion: apiVersionOf(rt.group, s.version), metadata: { resourceVersion: rv }, items: out },
      warnings: [],
    };
  }

  delete(s: RequestScope, body: unknown): WriteResult {
    return deleteObject(this.store, s, body, this.mustGet(s));
  }
}
