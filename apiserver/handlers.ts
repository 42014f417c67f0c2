/**
 * The REST semantics of one resource, independent of HTTP: get/list/create/update/patch/delete
 * and the status and scale subresources, with the apiserver's rules for resourceVersion
 * preconditions, status/spec separation, generation, finalizers, defaulting, pruning,
 * validation, field ownership and no-op detection. All of it is synchronous over the Store, so
 * a read-check-write can never interleave with another request.
 */
import { randomUUID, randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { serverSideApply } from './apply.js';
import { cloneData, jsonEqual, sameContent, sameObject } from './canonical.js';
import { ApiError, errors, type StatusCause } from './errors.js';
import { generatedNamePrefix, objectMetaCauses } from './names.js';
import { now, recordUpdate, type TypeHints } from './managedfields.js';
import { CR_SMP_MESSAGE, jsonPatch, mergePatch, PATCH_TYPES, strategicMergePatch } from './patch.js';
import { CRD_RESOURCE } from './registry.js';

export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';
import { combine, parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { Store } from './store.js';
import { apiVersionOf, resourceKey, type KObject, type ResourceType } from './types.js';
import {
  applyDefaults,
  builtinCauses,
  checkUnknownFields,
  parseFieldValidation,
  prune,
  validateCustom,
  type FieldValidation,
} from './validation.js';

export interface RequestScope {
  rt: ResourceType;
  version: string;
  namespace: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
  userAgent?: string;
}

export interface WriteResult {
  code: number;
  body: unknown;
  warnings: string[];
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  const b = randomBytes(5);
  return [...b].map((x) => NAME_CHARS[x % NAME_CHARS.length]).join('');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Read a `.a.b` path; write one. Used by the scale subresource mapping. */
function readPath(o: unknown, path: string): unknown {
  let cur = o;
  for (const p of path.replace(/^\./, '').split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}
/** `o` with `v` at a `.a.b` path, copying only the objects along the path (`o` is left alone). */
function withPath(o: Record<string, unknown>, path: string, v: unknown): Record<string, unknown> {
  const [head, ...rest] = path.replace(/^\./, '').split('.');
  const child = o[head];
  return { ...o, [head]: rest.length === 0 ? v : withPath(isObject(child) ? child : {}, rest.join('.'), v) };
}

export function managerName(scope: RequestScope): string {
  const fm = scope.query.get('fieldManager');
  if (fm) return fm;
  const ua = scope.userAgent ?? '';
  return ua.split('/')[0] || 'unknown';
}

export class ResourceHandlers {
  constructor(private readonly store: Store) {}

  /** An object as a client of `version` sees it. */
  present(rt: ResourceType, version: string, o: KObject): KObject {
    const apiVersion = apiVersionOf(rt.group, version);
    if (o.apiVersion === apiVersion && o.kind === rt.kind) return o;
    return { ...o, apiVersion, kind: rt.kind };
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
    if (s.subresource === 'scale') return this.scaleOf(s.rt, o);
    return this.present(s.rt, s.version, o);
  }

  list(s: RequestScope): { items: KObject[]; rv: string; continueToken?: string; remaining?: number } {
    const pred = combine(
      parseLabelSelector(s.query.get('labelSelector') ?? undefined),
      parseFieldSelector(s.rt, s.query.get('fieldSelector') ?? undefined),
    );
    const ns = s.rt.namespaced && s.namespace ? s.namespace : undefined;
    let all = this.store.list(this.key(s.rt), ns);
    const cont = s.query.get('continue');
    const rv = String(this.store.currentRV());
    if (cont) {
      let start: string;
      try {
        const tok = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { start: string; rv: number };
        if (tok.rv < this.store.compactedRV())
          throw errors.gone(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
          );
        start = tok.start;
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      all = all.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > start);
    }
    const limit = Number(s.query.get('limit') ?? 0);
    const items: KObject[] = [];
    let i = 0;
    for (; i < all.length; i++) {
      if (limit > 0 && items.length >= limit) break;
      if (pred(all[i])) items.push(this.present(s.rt, s.version, all[i]));
    }
    let continueToken: string | undefined;
    if (limit > 0 && items.length >= limit && all.slice(i).some(pred)) {
      const last = items[items.length - 1];
      continueToken = Buffer.from(
        JSON.stringify({ start: `${last.metadata.namespace ?? ''}/${last.metadata.name}`, rv: Number(rv) }),
      ).toString('base64url');
    }
    return { items, rv, continueToken };
  }

  private checkNamespace(s: RequestScope, forCreate: boolean): void {
    if (!s.rt.namespaced) return;
    const ns = this.store.get('namespaces', '', s.namespace);
    if (!ns) throw errors.notFound('namespaces', '', s.namespace);
    if (forCreate && ns.metadata.deletionTimestamp) {
      throw new ApiError(
        403,
        'Forbidden',
        `${s.rt.plural}${s.rt.group ? '.' + s.rt.group : ''} "${s.name ?? ''}" is forbidden: unable to create new content in namespace ${s.namespace} because it is being terminated`,
        {
          name: s.name,
          group: s.rt.group,
          kind: s.rt.plural,
          causes: [
            { reason: 'NamespaceTerminating', message: `namespace ${s.namespace} is being terminated`, field: 'metadata.namespace' },
          ],
        },
      );
    }
  }

  /**
   * Pruning, defaulting, validation for the object about to be stored. On create the name,
   * generateName and namespace are checked with the kind's name rule (names.ts); an update
   * cannot change them, and a real server does not re-check their format then.
   */
  private admit(s: RequestScope, o: KObject, fv: FieldValidation, creating: boolean): string[] {
    const rt = s.rt;
    let warnings: string[] = [];
    const metaCauses = creating ? objectMetaCauses(rt.nameRule ?? 'subdomain', rt.namespaced, o.metadata) : [];
    if (rt.custom) {
      const schema = rt.schemas?.[s.version];
      warnings = checkUnknownFields(prune(o, schema), fv);
      applyDefaults(o, schema);
      validateCustom(rt, s.version, o, metaCauses);
    } else {
      rt.defaulter?.(o);
      if (resourceKey(rt) === CRD_RESOURCE) this.admitCrd(o, metaCauses);
      else {
        const causes = [...metaCauses, ...builtinCauses(rt, o)];
        if (causes.length) throw errors.invalid(rt.kind, rt.group, o.metadata.name ?? '', causes);
      }
    }
    return warnings;
  }

  private admitCrd(o: KObject, metaCauses: StatusCause[]): void {
    const spec = o.spec ?? {};
    const causes = [...metaCauses];
    if (!spec.group) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.group' });
    if (!spec.names?.plural) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.plural' });
    if (!spec.names?.kind) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.kind' });
    if (!Array.isArray(spec.versions) || spec.versions.length === 0)
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value: must have exactly one version marked as storage version',
        field: 'spec.versions',
      });
    if (spec.group && spec.names?.plural && o.metadata.name !== `${spec.names.plural}.${spec.group}`) {
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${o.metadata.name}": must be spec.names.plural+"."+spec.group`,
        field: 'metadata.name',
      });
    }
    if (causes.length) throw errors.invalid('CustomResourceDefinition', 'apiextensions.k8s.io', o.metadata.name ?? '', causes);
    spec.scope ??= 'Namespaced';
    spec.names.singular ??= String(spec.names.kind).toLowerCase();
    spec.names.listKind ??= spec.names.kind + 'List';
    spec.conversion ??= { strategy: 'None' };
    const storage = (spec.versions as { name: string; storage?: boolean }[]).find((v) => v.storage) ?? spec.versions[0];
    o.status = {
      conditions: [
        {
          type: 'NamesAccepted',
          status: 'True',
          reason: 'NoConflicts',
          message: 'no conflicts found',
          lastTransitionTime: o.metadata.creationTimestamp ?? now(),
        },
        {
          type: 'Established',
          status: 'True',
          reason: 'InitialNamesAccepted',
          message: 'the initial names have been accepted',
          lastTransitionTime: o.metadata.creationTimestamp ?? now(),
        },
      ],
      acceptedNames: spec.names,
      storedVersions: [storage.name],
    };
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
      if (o.metadata.namespace && s.namespace && o.metadata.namespace !== s.namespace)
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      o.metadata.namespace = s.namespace;
    } else delete o.metadata.namespace;
    if (!o.metadata.name && typeof o.metadata.generateName === 'string' && o.metadata.generateName)
      o.metadata.name = generatedNamePrefix(o.metadata.generateName) + randomSuffix();
    s = { ...s, name: o.metadata.name };
    this.checkNamespace(s, true);
    o.apiVersion = apiVersionOf(rt.group, s.version);
    o.kind = rt.kind;
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = now();
    delete o.metadata.deletionTimestamp;
    delete o.metadata.deletionGracePeriodSeconds;
    if (rt.generation) o.metadata.generation = 1;
    else delete o.metadata.generation;
    if (rt.status && (rt.custom || rt.group === 'apps')) delete o.status;
    const warnings = this.admit(s, o, parseFieldValidation(s.query.get('fieldValidation')), true);
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
      throw errors.badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${prev.metadata.name})`);
    }
    if (rt.namespaced && next.metadata?.namespace && next.metadata.namespace !== prev.metadata.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
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
    o.apiVersion = apiVersionOf(rt.group, s.version);
    o.kind = rt.kind;
    if (prev.metadata.deletionTimestamp) {
      const before = new Set(prev.metadata.finalizers ?? []);
      const added = (m.finalizers ?? []).filter((f) => !before.has(f));
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
    const warnings = [...(opts.warnings ?? []), ...this.admit(s, o, parseFieldValidation(s.query.get('fieldValidation')), false)];
    if (rt.status && !statusWrite && prev.status !== undefined) o.status = cloneData(prev.status); // defaulting must not resurrect status
    if (rt.generation && !(statusWrite && rt.status) && !sameContent(prev, o, rt.status))
      m.generation = (prev.metadata.generation ?? 0) + 1;
    if (!opts.applied) {
      const mfChangedByClient =
        next.metadata?.managedFields !== undefined && !jsonEqual(next.metadata.managedFields, prev.metadata.managedFields);
      const base = mfChangedByClient ? { ...prev, metadata: { ...prev.metadata, managedFields: next.metadata.managedFields } } : prev;
      o.metadata.managedFields = base.metadata.managedFields;
      recordUpdate(
        base,
        o,
        this.hints(rt, s.version),
        opts.manager,
        o.apiVersion!,
        statusWrite ? 'status' : undefined,
        statusWrite ? 'status' : rt.status ? 'main' : 'all',
      );
    }
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

  update(s: RequestScope, body: unknown): WriteResult {
    if (!isObject(body)) throw errors.badRequest('the request body must be a JSON or YAML object');
    const next = body as KObject;
    if (next.metadata?.name && next.metadata.name !== s.name)
      throw errors.badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${s.name})`);
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
      throw errors.unsupportedMediaType(
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${rt.custom ? '' : ', application/strategic-merge-patch+json'}`,
      );
    }
    let patch: unknown;
    try {
      patch = JSON.parse(raw);
    } catch (e) {
      throw errors.badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const prev = this.mustGet(s);
    const view = s.subresource === 'scale' ? this.scaleOf(rt, prev) : this.present(rt, s.version, prev);
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
    if (a.metadata.name && a.metadata.name !== s.name)
      throw errors.badRequest(`the name of the object (${a.metadata.name}) does not match the name on the URL (${s.name})`);
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

  scaleOf(rt: ResourceType, o: KObject): KObject {
    if (!rt.scale) throw errors.pathNotFound(`${rt.plural}/scale`);
    const spec = readPath(o, rt.scale.specReplicasPath);
    const status = readPath(o, rt.scale.statusReplicasPath);
    const selector = rt.scale.labelSelectorPath ? readPath(o, rt.scale.labelSelectorPath) : undefined;
    const st: Record<string, unknown> = { replicas: typeof status === 'number' ? status : 0 };
    if (typeof selector === 'string' && selector) st.selector = selector;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: typeof spec === 'number' ? spec : 0 },
      status: st,
    };
  }

  private writeScale(s: RequestScope, prev: KObject, scale: KObject): WriteResult {
    const rt = s.rt;
    if (!rt.scale) throw errors.pathNotFound(`${rt.plural}/scale`);
    const rv = scale.metadata?.resourceVersion;
    if (rv && rv !== prev.metadata.resourceVersion) throw errors.conflict(rt.plural, rt.group, s.name!);
    const replicas = scale.spec?.replicas;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw errors.invalid('Scale', 'autoscaling', s.name!, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
          field: 'spec.replicas',
        },
      ]);
    }
    // commitUpdate copies what it stores, so the stored object needs no deep copy here.
    const next = withPath(this.present(rt, s.version, prev), rt.scale.specReplicasPath, replicas) as KObject;
    const res = this.commitUpdate({ ...s, subresource: undefined }, prev, next, { manager: managerName(s) });
    return { ...res, body: this.scaleOf(rt, res.body as KObject) };
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
    const rt = s.rt;
    const opts = isObject(body) ? body : {};
    const prev = this.mustGet(s);
    const pre = (opts.preconditions ?? {}) as { uid?: string; resourceVersion?: string };
    if (pre.uid && pre.uid !== prev.metadata.uid)
      throw errors.conflict(
        rt.plural,
        rt.group,
        s.name!,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${prev.metadata.uid}`,
      );
    if (pre.resourceVersion && pre.resourceVersion !== prev.metadata.resourceVersion)
      throw errors.conflict(
        rt.plural,
        rt.group,
        s.name!,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${prev.metadata.resourceVersion}`,
      );
    const policy =
      (opts.propagationPolicy as string | undefined) ??
      s.query.get('propagationPolicy') ??
      (opts.orphanDependents === true ? 'Orphan' : undefined);
    if (policy && !['Foreground', 'Background', 'Orphan'].includes(policy))
      throw errors.badRequest(`propagationPolicy must be one of Foreground, Background, Orphan; got ${policy}`);
    const dryRun = s.query.get('dryRun') === 'All' || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All'));
    const finalizers = [...(prev.metadata.finalizers ?? [])];
    if (rt.plural === 'namespaces' && !rt.group) {
      // Namespaces always go through Terminating; the namespace controller empties them.
      if (!prev.metadata.deletionTimestamp && !dryRun) {
        const o = structuredClone(prev);
        o.metadata.deletionTimestamp = now();
        o.metadata.deletionGracePeriodSeconds = 0;
        o.status = { ...(o.status ?? {}), phase: 'Terminating' };
        const stored = this.store.update(this.key(rt), o, rt.plural, rt.group, prev.metadata.resourceVersion);
        return { code: 200, body: this.present(rt, s.version, stored), warnings: [] };
      }
      return { code: 200, body: this.present(rt, s.version, prev), warnings: [] };
    }
    // A CRD stays (Terminating) until the cleanup controller has deleted its instances.
    if (resourceKey(rt) === CRD_RESOURCE && !finalizers.includes(CRD_CLEANUP_FINALIZER)) finalizers.push(CRD_CLEANUP_FINALIZER);
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (finalizers.length > 0) {
      if (prev.metadata.deletionTimestamp && finalizers.length === (prev.metadata.finalizers ?? []).length)
        return { code: 200, body: this.present(rt, s.version, prev), warnings: [] };
      const o = structuredClone(prev);
      o.metadata.finalizers = finalizers;
      if (!o.metadata.deletionTimestamp) {
        o.metadata.deletionTimestamp = now();
        o.metadata.deletionGracePeriodSeconds = 0;
        if (rt.generation && (o.metadata.generation ?? 0) > 0) o.metadata.generation = (o.metadata.generation ?? 0) + 1;
      }
      if (dryRun) return { code: 200, body: this.present(rt, s.version, o), warnings: [] };
      const stored = this.store.update(this.key(rt), o, rt.plural, rt.group, prev.metadata.resourceVersion);
      return { code: 200, body: this.present(rt, s.version, stored), warnings: [] };
    }
    if (dryRun) return { code: 200, body: this.present(rt, s.version, prev), warnings: [] };
    const last = this.store.remove(this.key(rt), prev.metadata.namespace ?? '', prev.metadata.name!, rt.plural, rt.group);
    if (rt.plural === 'pods' && !rt.group) return { code: 200, body: this.present(rt, s.version, last), warnings: [] };
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
}
