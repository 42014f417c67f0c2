/**
 * A Provider's rollout history, kept as Kubernetes keeps a DaemonSet's or StatefulSet's: one
 * apps/v1 ControllerRevision per distinct *template* (the spec fields that decide what an
 * instance runs), named `<provider>-<hash of the template>`, owned by the Provider, with a
 * `revision` number that grows each time a template becomes current again. The controller
 * writes them (controller/history/); `gantry rollout history|undo` reads them and writes a
 * template back into the spec.
 */
import { createHash } from 'node:crypto';
import { labels } from './common.js';
import type { Provider, ProviderSpec, ResolvedArchive } from './provider.js';

// Stryker disable next-line StringLiteral: a module constant, evaluated once per test worker (a static mutant the vitest runner never activates); plan.test.ts pins it
export const changeCauseAnnotation = 'kubernetes.io/change-cause';

export function controllerRevisionsPath(namespace: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/controllerrevisions`;
}

/** The archive fields of a template: the spec's, with the revision that actually ran. */
const ARCHIVE_FIELDS = ['ref', 'pullSecrets', 'digest'] as const;
/**
 * The spec fields besides `archive` that decide what an instance runs. Not replicas, mode,
 * placement, rollout or paused: those change how many run and where, not what. `configFrom`
 * is named even where this build has no such field: a spec that carries it is copied as is.
 */
export const TEMPLATE_FIELDS = ['config', 'configFrom', 'resources', 'capabilityId', 'linkName', 'trust'] as const;

export type ProviderTemplate = Record<string, unknown> & { archive: Record<string, unknown> };

/**
 * The template of a spec once its archive resolved: `archive.revision` is the resolved one, so
 * an undo returns to what ran even when the spec named no revision then.
 */
export function templateOf(spec: ProviderSpec, resolved: Pick<ResolvedArchive, 'revision'>): ProviderTemplate {
  const src = spec as Record<string, unknown>;
  const archive: Record<string, unknown> = {};
  for (const f of ARCHIVE_FIELDS) if (spec.archive[f] !== undefined) archive[f] = spec.archive[f];
  archive.revision = resolved.revision;
  const t: ProviderTemplate = { archive };
  for (const f of TEMPLATE_FIELDS) if (src[f] !== undefined) t[f] = src[f];
  return t;
}

/** JSON with object keys sorted: equal templates hash equal whatever order the API server kept. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function templateHash(t: ProviderTemplate): string {
  return createHash('sha256').update(canonicalJson(t)).digest('hex').slice(0, 10);
}

/** `<provider>-<hash>`, within the 253 characters of a name (a long Provider name is cut). */
export function revisionName(provider: string, hash: string): string {
  return `${provider.slice(0, 253 - hash.length - 1)}-${hash}`;
}

export interface ControllerRevision {
  apiVersion: 'apps/v1';
  kind: 'ControllerRevision';
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  };
  data: ProviderTemplate;
  revision: number;
}

/** The revisions of this Provider among `all`: its label, and its uid as controlling owner (a same-named predecessor's are not its). */
export function revisionsOf(p: Pick<Provider, 'metadata'>, all: Iterable<ControllerRevision>): ControllerRevision[] {
  const out: ControllerRevision[] = [];
  for (const r of all)
    if (
      r.metadata.labels?.[labels.provider] === p.metadata.name &&
      r.metadata.ownerReferences?.some((o) => o.controller && o.uid === p.metadata.uid)
    )
      out.push(r);
  return out.sort((a, b) => a.revision - b.revision);
}

/**
 * The JSON Patch (RFC 6902) that makes `spec` carry exactly `t`'s template: each template field
 * replaced by the revision's value, or removed when the revision had none (a merge patch could
 * not drop a config key the revision lacked); every other field (replicas, placement, rollout,
 * archive.requireLog) untouched. The `test` of the resourceVersion makes a concurrent edit fail
 * the patch rather than be overwritten.
 */
export function undoPatch(
  spec: ProviderSpec,
  resourceVersion: string,
  t: ProviderTemplate,
): { op: string; path: string; value?: unknown }[] {
  const ops: { op: string; path: string; value?: unknown }[] = [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }];
  const field = (path: string, had: unknown, want: unknown) => {
    if (want !== undefined) ops.push({ op: 'add', path, value: want });
    else if (had !== undefined) ops.push({ op: 'remove', path });
  };
  const archive = spec.archive as Record<string, unknown>;
  for (const f of [...ARCHIVE_FIELDS, 'revision']) field(`/spec/archive/${f}`, archive[f], t.archive[f]);
  for (const f of TEMPLATE_FIELDS) field(`/spec/${f}`, (spec as Record<string, unknown>)[f], t[f]);
  return ops;
}
