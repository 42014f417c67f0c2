/**
 * Phase 4b, each instance's own pull credential, for the agent: the Provider reconcile hands
 * every live instance that names pull secrets the narrowed credential or the refusal, read
 * from the pull-secret cache; the writer (credentials/pull.ts) keeps the Secret holding it.
 */
import type { ProviderInstance } from '../../api/instance.js';
import type { PullSecret, PullSecretError } from '../../registry/pull-secrets.js';
import type { Logger } from '../../runtime/log.js';
import type { StatusDraft } from './draft.js';
import type { PullSecretCache } from './pull-secret-cache.js';

/** Writes an instance's pull credential; resolves with when to call again (a token to refresh), if ever. */
export interface PullCredentialWriter {
  ensure(inst: ProviderInstance, source: { secrets: readonly PullSecret[] } | { error: PullSecretError }): Promise<number | undefined>;
}

export interface PullCredentialsInput {
  /** The Provider's key and namespace. */
  key: string;
  namespace: string;
  active: ProviderInstance[];
  pullSecrets: PullSecretCache;
  /** Absent: no pull credentials are written. */
  pullCreds?: PullCredentialWriter;
  log: Logger;
}

/**
 * For each live instance naming pull secrets (its own copy of the names, which may be an older
 * revision's during a rollout), the narrowed credential or the refusal; a secret still being
 * read is skipped (the cache enqueues this Provider when it arrives). A failed write is retried.
 */
export async function pullCredentialsPhase(draft: StatusDraft, o: PullCredentialsInput): Promise<void> {
  if (!o.pullCreds) return;
  for (const inst of o.active) {
    const names = (inst.spec.archive.pullSecrets ?? []).map((s) => s.name);
    if (!names.length || !inst.metadata.uid) continue;
    const source = o.pullSecrets.lookup(o.key, o.namespace, names);
    if (!source) {
      draft.requeueWithin(5_000);
      continue;
    }
    try {
      const again = await o.pullCreds.ensure(inst, source);
      if (again !== undefined) draft.requeueWithin(again); // a pull token to refresh
    } catch (err) {
      o.log.warn({ instance: inst.metadata.name, err: (err as Error).message }, 'cannot write the instance pull credential; will retry');
      draft.requeueWithin(2_000);
    }
  }
}
