/**
 * The set of REST resources currently served: the built-ins plus one entry per established
 * CustomResourceDefinition. CRDs are turned into `ResourceType`s here (names, scope, served
 * versions, schemas, subresources, printer columns, selectable fields), so discovery, OpenAPI
 * and the handlers all read one source of truth that changes the moment a CRD is written.
 */
import { builtinResources } from './builtins.js';
import type { KObject, PrinterColumn, ResourceType, Schema } from './types.js';
import { resourceKey } from './types.js';

export const CRD_RESOURCE = 'apiextensions.k8s.io/customresourcedefinitions';

export class ResourceRegistry {
  private readonly builtins: ResourceType[] = builtinResources();
  private readonly custom = new Map<string, ResourceType>(); // key: CRD name
  /** Bumped on every change, so discovery/OpenAPI hashes change with it. */
  generation = 0;

  all(): ResourceType[] {
    return [...this.builtins, ...this.custom.values()];
  }

  /** Resolve a URL's group/version/plural to a served resource. */
  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.all().find((r) => r.group === group && r.plural === plural && r.versions.includes(version));
  }

  byKey(key: string): ResourceType | undefined {
    return this.all().find((r) => resourceKey(r) === key);
  }

  /** Find by apiVersion + kind (for ownerReferences and events). */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    return this.all().find((r) => r.group === group && r.kind === kind && r.versions.includes(version));
  }

  groups(): { group: string; versions: string[] }[] {
    const m = new Map<string, string[]>();
    for (const r of this.all()) {
      if (r.group === '') continue;
      const vs = m.get(r.group) ?? [];
      for (const v of r.versions) if (!vs.includes(v)) vs.push(v);
      m.set(r.group, vs);
    }
    return [...m.entries()].map(([group, versions]) => ({ group, versions: sortVersions(versions) }));
  }

  /** Apply a CRD's current state (called on create/update). */
  upsertCrd(crd: KObject): void {
    const rt = crdToResource(crd);
    if (rt) this.custom.set(crd.metadata.name!, rt);
    else this.custom.delete(crd.metadata.name!);
    this.generation++;
  }

  removeCrd(name: string): void {
    if (this.custom.delete(name)) this.generation++;
  }
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first. */
export function sortVersions(vs: string[]): string[] {
  const rank = (v: string): [number, number, number] => {
    const m = v.match(/^v(\d+)(?:(alpha|beta)(\d+))?$/);
    if (!m) return [0, 0, 0];
    return [m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1, Number(m[1]), Number(m[3] ?? 0)];
  };
  return [...vs].sort((a, b) => {
    const ra = rank(a),
      rb = rank(b);
    for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i] - ra[i];
    return a.localeCompare(b);
  });
}

export function crdToResource(crd: KObject): ResourceType | undefined {
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  const versions: KObject[] = (spec.versions ?? []).filter((v: { served?: boolean }) => v?.served !== false);
  if (!spec.group || !names.plural || !names.kind || versions.length === 0) return undefined;
  const storage = versions.find((v) => v.storage) ?? versions[0];
  const ordered = sortVersions(versions.map((v) => v.name as unknown as string));
  const schemas: Record<string, Schema | undefined> = {};
  const printerColumns: Record<string, PrinterColumn[] | undefined> = {};
  for (const v of versions) {
    const name = v.name as unknown as string;
    schemas[name] = v.schema?.openAPIV3Schema;
    printerColumns[name] = v.additionalPrinterColumns;
  }
  const sub = (storage.subresources ?? {}) as {
    status?: unknown;
    scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  };
  const selectable: string[] = (storage.selectableFields ?? []).map((f: { jsonPath: string }) => String(f.jsonPath).replace(/^\./, ''));
  return {
    group: spec.group,
    versions: ordered,
    kind: names.kind,
    listKind: names.listKind ?? names.kind + 'List',
    plural: names.plural,
    singular: names.singular ?? names.kind.toLowerCase(),
    namespaced: spec.scope !== 'Cluster',
    shortNames: names.shortNames ?? [],
    categories: names.categories ?? [],
    verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'],
    status: sub.status !== undefined,
    scale: sub.scale,
    generation: true,
    custom: true,
    schemas,
    printerColumns,
    selectableFields: selectable,
  };
}
