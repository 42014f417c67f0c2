/**
 * What the sandbox puts into its (emulated) cluster: the Gantry namespace, the CRDs from crds/,
 * one labelled Ready Node per sandbox node, and the example Providers from examples/. Objects
 * are created when absent and otherwise left alone, so a resumed sandbox keeps whatever the
 * user changed (a scaled Provider stays scaled); CRDs are the exception — they follow crds/.
 *
 * Example manifests name the sandbox registry with the placeholder `${SANDBOX_REGISTRY}`
 * (`archive.ref: ${SANDBOX_REGISTRY}/examples/echo`), replaced by `127.0.0.1:PORT` or
 * `oci-layout:DIR` at apply time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isAlreadyExists, isNotFound, type KubeClient, resourcePath } from '../../runtime/kube.js';
import { nodeObject, readyStatus, type SandboxNode } from './node-spec.js';

export const GANTRY_NAMESPACE = 'gantry-system';
/** The instances' sealed pull credentials: the only Secrets agents read (deploy/base/namespace.yaml). */
export const CREDENTIALS_NAMESPACE = 'gantry-nodes';
// biome-ignore lint/suspicious/noTemplateCurlyInString: a placeholder the manifests carry literally
export const REGISTRY_PLACEHOLDER = '${SANDBOX_REGISTRY}';

type Obj = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/** Every YAML document of the given files (empty documents dropped). */
export function readYamlObjects(files: string[], substitute: Record<string, string> = {}): Obj[] {
  const out: Obj[] = [];
  for (const f of files) {
    let text = readFileSync(f, 'utf8');
    for (const [k, v] of Object.entries(substitute)) text = text.split(k).join(v);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) throw new Error(`${f}: ${doc.errors[0].message}`);
      const o = doc.toJS();
      if (o && typeof o === 'object') out.push(o as Obj);
    }
  }
  return out;
}

export function yamlFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * The example manifests written for the sandbox: those in `dir` that name its registry with
 * the placeholder (examples/ also holds manifests for real clusters, which it leaves alone).
 */
export function sandboxExampleFiles(dir: string): string[] {
  return yamlFilesIn(dir).filter((f) => readFileSync(f, 'utf8').includes(REGISTRY_PLACEHOLDER));
}

/** The API path of an object, from its apiVersion, kind and a plural (kinds the sandbox applies). */
const plurals: Record<string, string> = {
  Namespace: 'namespaces',
  Node: 'nodes',
  CustomResourceDefinition: 'customresourcedefinitions',
  Provider: 'providers',
  ProviderInstance: 'providerinstances',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
};

export function objectPath(o: Obj, withName = true): string {
  const plural = plurals[o.kind];
  if (!plural) throw new Error(`the sandbox does not apply ${o.kind} objects (${o.metadata?.name})`);
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [undefined, o.apiVersion];
  const namespaced = !['Namespace', 'Node', 'CustomResourceDefinition'].includes(o.kind);
  return resourcePath({
    group,
    version,
    plural,
    namespace: namespaced ? (o.metadata.namespace ?? 'default') : undefined,
    name: withName ? o.metadata.name : undefined,
  });
}

/** Create if absent; report whether it was created. */
export async function ensureObject(kube: KubeClient, o: Obj): Promise<boolean> {
  try {
    await kube.create(objectPath(o, false), o);
    return true;
  } catch (err) {
    if (isAlreadyExists(err)) return false;
    throw err;
  }
}

/** Create, or replace the spec of, an object that must follow its source (CRDs). */
export async function upsertObject(kube: KubeClient, o: Obj): Promise<void> {
  const path = objectPath(o);
  try {
    const cur = await kube.get(path);
    await kube.replace(path, { ...o, metadata: { ...o.metadata, resourceVersion: cur.metadata.resourceVersion } });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await kube.create(objectPath(o, false), o);
  }
}

export async function ensureNamespace(kube: KubeClient, name: string): Promise<void> {
  await ensureObject(kube, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export async function applyCrds(kube: KubeClient, crdDir: string): Promise<string[]> {
  const crds = readYamlObjects(yamlFilesIn(crdDir));
  for (const c of crds) await upsertObject(kube, c);
  return crds.map((c) => c.metadata.name);
}

/** Register each node and mark it Ready (the sandbox's agents stand in for kubelets). */
export async function registerNodes(kube: KubeClient, nodes: SandboxNode[]): Promise<void> {
  for (const n of nodes) {
    const obj = nodeObject(n) as Obj;
    await ensureObject(kube, obj);
    const path = resourcePath({ version: 'v1', plural: 'nodes', name: n.name, subresource: 'status' });
    await kube.mergePatch(path, { status: readyStatus() });
  }
}

export interface AppliedExample {
  kind: string;
  namespace?: string;
  name: string;
  created: boolean;
}

export async function applyExamples(kube: KubeClient, files: string[], registryLocation: string): Promise<AppliedExample[]> {
  return applyObjects(kube, readYamlObjects(files, { [REGISTRY_PLACEHOLDER]: registryLocation }));
}

/**
 * Providers for the published example archives, applied when examples/ has no manifests, so a
 * fresh sandbox always shows something running.
 */
export function defaultExampleProviders(archives: { name: string; ref: string; capid: string }[]): Record<string, any>[] {
  return archives.map((a) => ({
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'Provider',
    metadata: { name: a.name, namespace: 'default' },
    spec: { archive: { ref: a.ref }, replicas: 1, capabilityId: a.capid },
  }));
}

export async function applyObjects(kube: KubeClient, objs: Record<string, any>[]): Promise<AppliedExample[]> {
  const out: AppliedExample[] = [];
  for (const o of objs as Obj[]) {
    if (o.metadata.namespace) await ensureNamespace(kube, o.metadata.namespace);
    out.push({ kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name, created: await ensureObject(kube, o) });
  }
  return out;
}
