/**
 * API discovery, in both forms kubectl uses: the legacy documents (`/api`, `/apis`,
 * `/apis/{g}`, `/api/v1`, `/apis/{g}/{v}`) and aggregated discovery (`apidiscovery.k8s.io`
 * v2 and v2beta1, picked from the Accept header and echoed in Content-Type), which lets
 * kubectl learn every resource in three requests. Built from the live registry, so a CRD
 * appears the moment it is created.
 */
import { type ResourceRegistry, sortVersions } from './registry.js';
import type { ResourceType } from './types.js';

const SUB_VERBS = ['get', 'patch', 'update'];

export function apiVersions(serverAddress: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupDoc(group: string, versions: string[]): Record<string, unknown> {
  const vs = sortVersions(versions).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(reg: ResourceRegistry): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: reg.groups().map((g) => groupDoc(g.group, g.versions)) };
}

export function apiGroup(reg: ResourceRegistry, group: string): unknown | undefined {
  const g = reg.groups().find((x) => x.group === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g.group, g.versions) } : undefined;
}

function resourcesIn(reg: ResourceRegistry, group: string, version: string): ResourceType[] {
  return reg.all().filter((r) => r.group === group && r.versions.includes(version));
}

export function apiResourceList(reg: ResourceRegistry, group: string, version: string): unknown | undefined {
  const rts = resourcesIn(reg, group, version);
  if (rts.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const r of rts) {
    const main: Record<string, unknown> = {
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
    };
    if (r.shortNames.length) main.shortNames = r.shortNames;
    if (r.categories.length) main.categories = r.categories;
    resources.push(main);
    if (r.status)
      resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: SUB_VERBS });
    if (r.scale)
      resources.push({
        name: `${r.plural}/scale`,
        singularName: '',
        namespaced: r.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: SUB_VERBS,
      });
    if (r.plural === 'namespaces' && !r.group)
      resources.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

/** The aggregated discovery version the client asked for, if any (first match wins). */
export function aggregatedVersion(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    if (!/as=APIGroupDiscoveryList/.test(part) || !/g=apidiscovery\.k8s\.io/.test(part)) continue;
    const m = part.match(/v=(v2beta1|v2)\b/);
    if (m) return m[1] as 'v2' | 'v2beta1';
  }
  return undefined;
}

export function aggregatedContentType(v: 'v2' | 'v2beta1'): string {
  return `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;
}

function versionEntry(reg: ResourceRegistry, group: string, version: string): Record<string, unknown> {
  return {
    version,
    freshness: 'Current',
    resources: resourcesIn(reg, group, version).map((r) => {
      const e: Record<string, unknown> = {
        resource: r.plural,
        responseKind: { group: r.group, version, kind: r.kind },
        scope: r.namespaced ? 'Namespaced' : 'Cluster',
        singularResource: r.singular,
        verbs: r.verbs,
      };
      if (r.shortNames.length) e.shortNames = r.shortNames;
      if (r.categories.length) e.categories = r.categories;
      const subs: Record<string, unknown>[] = [];
      if (r.status) subs.push({ subresource: 'status', responseKind: { group: r.group, version, kind: r.kind }, verbs: SUB_VERBS });
      if (r.scale)
        subs.push({ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: SUB_VERBS });
      if (subs.length) e.subresources = subs;
      return e;
    }),
  };
}

export function aggregatedDiscovery(reg: ResourceRegistry, legacy: boolean, v: 'v2' | 'v2beta1'): unknown {
  const items = legacy
    ? [{ metadata: { name: '', creationTimestamp: null }, versions: [versionEntry(reg, '', 'v1')] }]
    : reg.groups().map((g) => ({
        metadata: { name: g.group, creationTimestamp: null },
        versions: g.versions.map((ver) => versionEntry(reg, g.group, ver)),
      }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${v}`, metadata: {}, items };
}
