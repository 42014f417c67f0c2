/**
 * The template of an instance, as a Deployment's pod template: its spec without what placement
 * chooses (nodeName, target). Its hash labels each instance (gantry.dev/template-hash) and is
 * what a rollout rolls to — so a change of archive revision, config, a referenced ConfigMap's
 * content, a referenced Secret's resourceVersion, resources or issuers is a new template. The
 * hash is computed from each instance's own spec, never read from its label, so an instance
 * made before labels existed (same spec) still counts as current: an upgrade rolls nothing.
 */
import { createHash } from 'node:crypto';
import type { ProviderInstanceSpec } from '../../api/instance.js';

export type InstanceTemplate = Omit<ProviderInstanceSpec, 'nodeName' | 'target'>;

/** Informer objects are replaced, never changed, on update: a spec's hash is computed once. */
const known = new WeakMap<object, string>();

/** sha256 of the canonical JSON (sorted keys) of the spec without nodeName and target, 10 hex characters. */
export function templateHashOf(spec: ProviderInstanceSpec | InstanceTemplate): string {
  const hit = known.get(spec);
  if (hit) return hit;
  const { nodeName: _n, target: _t, ...template } = spec as ProviderInstanceSpec;
  const hash = createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 10);
  known.set(spec, hash);
  return hash;
}

/** The template of an existing instance (for more of it while a rollout is paused). */
export function templateOf(spec: ProviderInstanceSpec): InstanceTemplate {
  const { nodeName: _n, target: _t, ...template } = spec;
  return template;
}

/** JSON with object keys sorted at every level; undefined members are left out, as JSON.stringify does. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const parts = Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v);
}
