/**
 * What an object must pass before it is stored: its namespace must exist (and, for a create,
 * not be terminating), and the object is pruned, defaulted and validated — custom resources
 * against their CRD's schema, built-ins with their table's rules, CRDs with the
 * apiextensions rules, which also fill in a new CRD's defaults and its accepted status.
 */
import { unsupportedRuleCauses } from './cel.js';
import { errors, ApiError, type StatusCause } from './errors.js';
import { kubeTime } from '../runtime/toolkit/time.js';
import { objectMetaCauses } from './names.js';
import { CRD_RESOURCE } from './registry.js';
import type { Store } from './store.js';
import { resourceKey, type KObject, type ResourceType } from './types.js';
import { applyDefaults, builtinCauses, checkUnknownFields, prune, validateCustom, type FieldValidation } from './validation.js';

/** Where an object is written: its resource, the version the client speaks, its namespace and name. */
export interface AdmissionScope {
  rt: ResourceType;
  version: string;
  namespace: string;
  name?: string;
}

/** The request's namespace must exist; a create must not land in one being terminated. */
export function checkNamespace(store: Store, s: AdmissionScope, forCreate: boolean): void {
  if (!s.rt.namespaced) return;
  const ns = store.get('namespaces', '', s.namespace);
  if (!ns) throw errors.notFound('namespaces', '', s.namespace);
  if (forCreate && ns.metadata.deletionTimestamp) {
    throw new ApiError(
      403,
      'Forbidden',
      `${s.rt.plural}${s.rt.group ? '.' + s.rt.group : ''} "${s.name ?? ''}" is forbidden: ` +
        `unable to create new content in namespace ${s.namespace} because it is being terminated`,
      {
        name: s.name,
        group: s.rt.group,
        kind: s.rt.plural,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${s.namespace} is being terminated`, field: 'metadata.namespace' }],
      },
    );
  }
}

/**
 * Pruning, defaulting, validation for the object about to be stored; returns the warnings
 * (unknown fields under `fieldValidation=Warn`). On create the name, generateName and
 * namespace are checked with the kind's name rule (names.ts); an update cannot change them,
 * and a real server does not re-check their format then. `prev` (an update's live object, as
 * the client's version presents it) is what a CRD's transition rules compare against (cel.ts).
 */
export function admit(s: AdmissionScope, o: KObject, fv: FieldValidation, creating: boolean, prev?: KObject): string[] {
  const rt = s.rt;
  let warnings: string[] = [];
  const metaCauses = creating ? objectMetaCauses(rt.nameRule ?? 'subdomain', rt.namespaced, o.metadata) : [];
  if (rt.custom) {
    const schema = rt.schemas?.[s.version];
    warnings = checkUnknownFields(prune(o, schema), fv);
    applyDefaults(o, schema);
    validateCustom(rt, s.version, o, metaCauses, prev);
  } else {
    rt.defaulter?.(o);
    if (resourceKey(rt) === CRD_RESOURCE) admitCrd(o, metaCauses);
    else {
      const causes = [...metaCauses, ...builtinCauses(rt, o), ...(rt.validator?.(o, creating ? undefined : prev) ?? [])];
      if (causes.length) throw errors.invalid(rt.kind, rt.group, o.metadata.name ?? '', causes);
    }
  }
  return warnings;
}

function admitCrd(o: KObject, metaCauses: StatusCause[]): void {
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
  causes.push(...unsupportedRuleCauses(o));
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
        lastTransitionTime: o.metadata.creationTimestamp ?? kubeTime(),
      },
      {
        type: 'Established',
        status: 'True',
        reason: 'InitialNamesAccepted',
        message: 'the initial names have been accepted',
        lastTransitionTime: o.metadata.creationTimestamp ?? kubeTime(),
      },
    ],
    acceptedNames: spec.names,
    storedVersions: [storage.name],
  };
}
