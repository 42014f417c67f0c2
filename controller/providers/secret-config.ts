/**
 * Phase 4c, each instance's secret config values, for its node only: the reconcile hands every
 * live instance with `spec.secretConfig` its values, through the SecretConfigWriter (the sealed
 * delivery, controller/credentials/config.ts, seals them to the node's key). Only an instance
 * whose keys and Secret resourceVersions are the ones just resolved gets values: an older one
 * (a rollout in progress after a rotation) is never re-sealed with newer values — the rollout
 * replaces it.
 */
import type { ProviderInstance } from '../../api/instance.js';
import type { Logger } from '../../runtime/log.js';
import { type ResolvedConfig, sameSecretConfig } from './config-refs.js';
import type { StatusDraft } from './draft.js';

export interface SecretConfigWriter {
  /** Seal `values` (secret config key → value) to inst's node into its per-instance Secret; resolves once written (or recorded as waiting for the node's seal key). */
  ensure(inst: ProviderInstance, values: Readonly<Record<string, string>>): Promise<void>;
}

export interface SecretConfigInput {
  active: ProviderInstance[];
  /** The config resolved this reconcile (undefined: not resolved; nothing is written). */
  config?: ResolvedConfig;
  /** Absent: no secret config is written. */
  secretConfig?: SecretConfigWriter;
  log: Logger;
}

export async function secretConfigPhase(draft: StatusDraft, o: SecretConfigInput): Promise<void> {
  const current = o.config?.secretConfig;
  if (!o.secretConfig || !current) return;
  for (const inst of o.active) {
    const mine = inst.spec.secretConfig;
    if (!mine || !inst.metadata.uid || !sameSecretConfig(mine, current)) continue;
    const values = Object.fromEntries(mine.keys.map((k) => [k, o.config!.secretValues[k]!]));
    try {
      await o.secretConfig.ensure(inst, values);
    } catch (err) {
      // the writer's message, never a value
      o.log.warn({ instance: inst.metadata.name, err: (err as Error).message }, 'cannot write the instance secret config; will retry');
      draft.requeueWithin(2_000);
    }
  }
}
