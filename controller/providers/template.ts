/**
 * Phase 1b, the template: what new instances are made of, and so what the rollout rolls to.
 * The Provider's spec, the resolved archive and its config (spec.configFrom resolved through the
 * config-ref cache, config-refs.ts) make the spec's template; its hash (template-hash.ts) is the
 * rollout's target. A reference that fails is `ConfigResolved=False` with its own reason and no
 * template: nothing new starts with half a config, and what runs keeps running. While
 * spec.paused, the target stays the template the newest instance runs, so scaling goes on with
 * it and a changed spec waits for resume.
 */
import type { ProviderInstance } from '../../api/instance.js';
import type { Provider, ProviderSpec as Spec, ResolvedArchive } from '../../api/provider.js';
import type { Logger } from '../../runtime/log.js';
import type { EventRecorder } from '../events.js';
import type { ControllerMetrics } from '../metrics.js';
import type { ConfigRefCache } from './config-ref-cache.js';
import { type ResolvedConfig, resolveConfig } from './config-refs.js';
import type { StatusDraft } from './draft.js';
import { type InstanceTemplate, templateHashOf, templateOf } from './template-hash.js';

export interface TemplateInput {
  provider: Provider;
  key: string;
  spec: Spec;
  /** The archive to serve (undefined: nothing resolved yet). */
  resolved?: ResolvedArchive;
  linkName: string;
  trustedIssuers: string[];
  /** The Provider's instances not being deleted. */
  active: ProviderInstance[];
  configRefs: ConfigRefCache;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
}

export interface TemplateChoice {
  /** What new instances are made of (undefined: nothing new is made). */
  template?: InstanceTemplate;
  /** Its hash: the rollout's target. */
  hash?: string;
  /** The config resolved this reconcile (the secret config phase hands out its values). */
  config?: ResolvedConfig;
  /** spec.paused: the spec's own template hash (undefined if it has none), which waits for resume. */
  paused?: { specHash?: string };
}

export function templatePhase(draft: StatusDraft, o: TemplateInput): TemplateChoice {
  const config = configStep(draft, o);
  const template = o.resolved && config ? specTemplate(o, o.resolved, config) : undefined;
  const hash = template && templateHashOf(template);
  if (!o.spec.paused) return { template, hash, config };
  const newest = newestOf(o.active);
  // nothing runs yet: there is nothing to keep, so the spec's template is made
  if (!newest) return { template, hash, config, paused: { specHash: hash } };
  return { template: templateOf(newest.spec), hash: templateHashOf(newest.spec), config, paused: { specHash: hash } };
}

/** spec.configFrom resolved (and ConfigResolved set), or undefined while a reference is being read or failed. */
function configStep(draft: StatusDraft, o: TemplateInput): ResolvedConfig | undefined {
  const refs = o.spec.configFrom ?? [];
  const r = resolveConfig(o.spec, o.provider.metadata.namespace!, o.configRefs.lookupFor(o.key, o.provider.metadata.namespace!));
  if (refs.length === 0) {
    draft.conditions = draft.conditions.filter((c) => c.type !== 'ConfigResolved');
    return 'resolved' in r ? r.resolved : undefined;
  }
  if ('pending' in r) return undefined;
  if ('error' in r) {
    const message = `${r.error.message}. No instance of the new template is made; instances already running keep running.`;
    draft.set('ConfigResolved', 'False', r.error.reason, message);
    o.events.record(o.provider, 'Warning', r.error.reason, r.error.message);
    o.metrics.failures.inc({ reason: r.error.reason });
    o.log.warn({ reason: r.error.reason, err: r.error.message }, 'config reference failed');
    return undefined;
  }
  const { config, secretConfig } = r.resolved;
  const plain = Object.keys(config ?? {}).length;
  const secret = secretConfig?.keys.length ?? 0;
  draft.set(
    'ConfigResolved',
    'True',
    'ConfigResolved',
    `${plain + secret} config key(s) from ${refs.length} reference(s) and spec.config, ${secret} of them secret`,
  );
  return r.resolved;
}

/** The spec's own template: everything an instance carries except where it was placed. */
function specTemplate(o: TemplateInput, r: ResolvedArchive, config: ResolvedConfig): InstanceTemplate {
  const { spec } = o;
  return {
    provider: o.provider.metadata.name,
    archive: {
      ref: r.ref ?? spec.archive.ref,
      digest: r.digest,
      revision: r.revision,
      ...(spec.archive.pullSecrets ? { pullSecrets: spec.archive.pullSecrets } : {}),
    },
    ...(r.capid ? { capid: r.capid } : {}),
    linkName: o.linkName,
    ...(config.config ? { config: config.config } : {}),
    ...(config.secretConfig ? { secretConfig: config.secretConfig } : {}),
    ...(spec.resources ? { resources: spec.resources } : {}),
    ...issuersOf(o, r),
    // part of the template: a changed probe rolls out, as a Pod template's probes do
    ...(spec.health ? { health: spec.health } : {}),
  };
}

/**
 * The issuers an instance carries: the cluster list narrowed by spec.trust.issuers. Without a
 * narrowing of its own, a Provider keeps the list its newest instance carries while every key of
 * it is still trusted and it holds the archive's signer, so widening gantry-trust is not a new
 * template and rolls nothing out. A narrowing that drops a key of that list is one (an agent
 * refuses to start an instance naming a key outside its policy, api/trust.ts).
 */
function issuersOf(o: TemplateInput, r: ResolvedArchive): { issuers?: string[] } {
  const kept = o.spec.trust?.issuers?.length ? undefined : newestOf(o.active)?.spec.issuers;
  const stillTrusted = kept?.length && kept.every((k) => o.trustedIssuers.includes(k));
  if (stillTrusted && r.issuer !== undefined && kept.includes(r.issuer)) return { issuers: kept };
  return o.trustedIssuers.length ? { issuers: o.trustedIssuers } : {};
}

/** The newest instance (one just created and not yet seen by the watch has no timestamp: newest). */
function newestOf(active: ProviderInstance[]): ProviderInstance | undefined {
  const at = (i: ProviderInstance) => i.metadata.creationTimestamp ?? '\uffff';
  return [...active].sort((a, b) => at(b).localeCompare(at(a)) || b.metadata.name.localeCompare(a.metadata.name))[0];
}
