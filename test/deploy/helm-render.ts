/**
 * Rendering deploy/helm/gantry and deploy/base side by side, for test/deploy/helm*.test.ts: both
 * parsed into objects keyed by apiVersion/kind/namespace/name, with the few labels and annotations
 * only Helm adds taken off, so a deep compare says whether they are the same objects.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { controlPlaneAvailable, controlPlaneBinary } from '../../sandbox/controlplane/index.js';
import { findBinary } from '../support/binaries.js';
import { CHART, helm } from '../support/helm.js';
import { parseAllDocuments } from 'yaml';
import type { Manifest } from './schema.js';

/** What the chart adds to deploy/base's objects (metadata only), and nothing else. */
export const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance'];
/** On the CRDs only, while crds.keep is on (the default): uninstall leaves them. */
export const HELM_ANNOTATIONS = ['helm.sh/resource-policy'];

export const keyOf = (m: Manifest): string => `${m.apiVersion}/${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;

export function byKey(ms: Manifest[]): Map<string, Manifest> {
  const out = new Map<string, Manifest>();
  for (const m of ms) {
    const k = keyOf(m);
    if (out.has(k)) throw new Error(`${k} is rendered twice`);
    out.set(k, m);
  }
  return out;
}

/** A copy of a rendered object without the chart's own labels and annotations. */
export function withoutHelmMetadata(m: Manifest): Manifest {
  const c = structuredClone(m);
  const md = c.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> };
  for (const [field, keys] of [
    ['labels', HELM_LABELS],
    ['annotations', HELM_ANNOTATIONS],
  ] as const) {
    const map = md[field];
    if (!map) continue;
    for (const k of keys) delete map[k];
    if (Object.keys(map).length === 0) delete md[field];
  }
  return c;
}

/** The real control plane's kubectl (the release the tests run), else the one on PATH. */
export function kubectl(): string {
  if (controlPlaneAvailable()) return controlPlaneBinary('kubectl');
  const onPath = findBinary('kubectl');
  if (!onPath) throw new Error('kubectl is required: build the control plane with scripts/control-plane.sh');
  return onPath;
}

/**
 * Every object of a YAML stream as kubectl and helm send it: YAML 1.1, as their Go parser reads
 * it (a template's `defaultMode: 0440` is octal 288 there, which kustomize prints as 288).
 */
export function parseStream(text: string, source: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length) throw new Error(`${source}: YAML error: ${doc.errors[0].message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export function kustomize(dir: string): Manifest[] {
  return parseStream(execFileSync(kubectl(), ['kustomize', dir], { encoding: 'utf8' }), dir);
}

/**
 * The trust policy the chart renders from its values. deploy/base ships none (`gantry install`
 * makes it once, so an `apply -k` upgrade cannot reset it); a Helm release owns it instead, as
 * deploy/base/trust-policy.yaml describes it.
 */
export function trustPolicy(base: string): Manifest[] {
  return parseStream(readFileSync(join(base, 'trust-policy.yaml'), 'utf8'), 'trust-policy.yaml');
}

/** deploy/base with one of deploy/components (what an overlay listing it renders). */
export function kustomizeWithComponent(base: string, component: string): Manifest[] {
  const tmp = mkdtempSync(join(tmpdir(), 'gantry-kustomize-'));
  const dir = join(tmp, 'overlay');
  mkdirSync(dir);
  // kustomize takes only relative paths to other kustomizations
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${relative(dir, base)}]\ncomponents: [${relative(dir, component)}]\n`,
  );
  try {
    return kustomize(dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export const helmHome = (): string => mkdtempSync(join(tmpdir(), 'gantry-helm-'));

/** `helm template` of the chart with values set as JSON (`--set-json`: a tag stays a string, a count a number). */
export async function render(home: string, values: Record<string, unknown> = {}): Promise<Manifest[]> {
  const r = await helm(['template', 'gantry', CHART, ...setArgs(values)], home);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.err}`);
  return parseStream(r.out, 'helm template');
}

export const setArgs = (values: Record<string, unknown>): string[] =>
  Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
