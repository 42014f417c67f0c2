/**
 * OpenAPI v3, as kubectl reads it: an index of group-versions with content hashes, and one
 * document per group-version whose item paths carry a `patch` operation tagged with
 * `x-kubernetes-group-version-kind` (kubectl decides between merge and strategic patches and
 * finds server-side field validation support from these) and component schemas from the
 * CRD's structural schema, which also makes `kubectl explain` work.
 */
import { createHash } from 'node:crypto';
import type { ResourceRegistry } from './registry.js';
import type { ResourceType, Schema } from './types.js';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function schemaName(r: ResourceType, version: string): string {
  const g = r.group ? r.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${g}.${version}.${r.kind}`;
}

/**
 * The ObjectMeta fields kubectl's strategic-merge patch looks up for built-ins without a
 * schema here: without them `kubectl apply` (≥1.34) warns "unable to find api field
 * annotations" on every re-apply (the real server's document has them).
 */
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const OBJECT_META: Schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    generateName: { type: 'string' },
    labels: stringMap,
    annotations: stringMap,
    finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-patch-strategy': 'merge' },
    ownerReferences: {
      type: 'array',
      items: { type: 'object' },
      'x-kubernetes-patch-merge-key': 'uid',
      'x-kubernetes-patch-strategy': 'merge',
    },
  },
};

const PATCH_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((name) => ({
  name,
  in: 'query',
  schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true },
}));

export class OpenApiDocs {
  private cacheGen = -1;
  private docs = new Map<string, { body: string; hash: string }>();

  constructor(private readonly registry: ResourceRegistry) {}

  private rebuild(): void {
    if (this.cacheGen === this.registry.generation) return;
    this.docs.clear();
    const byGv = new Map<string, { group: string; version: string; rts: ResourceType[] }>();
    for (const r of this.registry.all()) {
      for (const v of r.versions) {
        const k = gvPath(r.group, v);
        const e = byGv.get(k) ?? { group: r.group, version: v, rts: [] };
        e.rts.push(r);
        byGv.set(k, e);
      }
    }
    for (const [path, { version, rts }] of byGv) {
      const paths: Record<string, unknown> = {};
      const schemas: Record<string, Schema> = {};
      for (const r of rts) {
        const gvk = [{ group: r.group, version, kind: r.kind }];
        const name = schemaName(r, version);
        const base = r.schemas?.[version] ?? {
          type: 'object',
          properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: OBJECT_META },
        };
        schemas[name] = { ...base, 'x-kubernetes-group-version-kind': gvk };
        const prefix = `/${path}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.plural}`;
        const ref = { $ref: `#/components/schemas/${name}` };
        // kubectl reads the patch operation's request types to decide whether it may send a
        // strategic merge patch (built-ins) or must fall back to a JSON merge patch (CRs).
        const patchTypes = [
          'application/apply-patch+yaml',
          'application/json-patch+json',
          'application/merge-patch+json',
          ...(r.custom ? [] : ['application/strategic-merge-patch+json']),
        ];
        const op = (verb: string) => ({
          operationId: `${verb}${r.kind}`,
          ...(verb === 'patch'
            ? { requestBody: { content: Object.fromEntries(patchTypes.map((t) => [t, { schema: { type: 'object' } }])), required: true } }
            : {}),
          'x-kubernetes-action': verb,
          'x-kubernetes-group-version-kind': gvk[0],
          parameters: PATCH_PARAMS,
          responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
        });
        paths[prefix] = { get: op('list'), post: op('post') };
        paths[`${prefix}/{name}`] = { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') };
        if (r.status) paths[`${prefix}/{name}/status`] = { get: op('get'), put: op('put'), patch: op('patch') };
      }
      const doc = { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.30.0' }, paths, components: { schemas } };
      const body = JSON.stringify(doc);
      this.docs.set(path, { body, hash: createHash('sha512').update(body).digest('hex').slice(0, 128).toUpperCase() });
    }
    this.cacheGen = this.registry.generation;
  }

  index(): unknown {
    this.rebuild();
    const paths: Record<string, unknown> = {};
    for (const [p, d] of this.docs) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
    return { paths };
  }

  /** The document for `api/v1` or `apis/{g}/{v}`, as serialised JSON. */
  document(path: string): string | undefined {
    this.rebuild();
    return this.docs.get(path)?.body;
  }
}
