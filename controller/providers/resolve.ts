/**
 * Phase 1, resolve: `archive.ref` + `revision` → a verified digest (controller/resolve.ts),
 * with the pull secrets from the controller's cache. A failure sets `Resolved=False` with its
 * reason (api/reasons.ts) and keeps the last good revision serving; a transient one retries
 * with backoff, a lasting one looks again in 15 s.
 */
import type { Provider, ProviderSpec as Spec, ResolvedArchive } from '../../api/provider.js';
import type { Logger } from '../../runtime/log.js';
import type { EventRecorder } from '../events.js';
import type { ControllerMetrics } from '../metrics.js';
import type { PullSecretCache } from './pull-secret-cache.js';
import { checkResolved, failureFromError, ResolveFailure, type ArchiveResolver } from './archive/resolver.js';
import type { StatusDraft } from './draft.js';
import type { NamespaceMap } from '../../registry/namespaces.js';
import { credentialsFor } from '../../registry/pull-secrets.js';
import type { LogWitness } from './archive/log-witness.js';

export interface ResolveInput {
  provider: Provider;
  key: string;
  /** The spec, once it parsed. */
  spec: Spec;
  /** Issuers in force for this Provider: the cluster policy narrowed by spec.trust.issuers. */
  trustedIssuers: string[];
  /** Why the trust in force is unusable (api/trust.ts trustProblem), when it is. */
  trustProblem?: string;
  pullSecrets: PullSecretCache;
  resolver: ArchiveResolver;
  /** Short names (acme/payments) → registry repositories (registry/namespaces.ts); absent: refs are taken literally. */
  namespaces?: NamespaceMap;
  /** Checks each resolved revision against its repository's transparency log (controller/log-witness.ts). */
  logWitness?: LogWitness;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
}

/** The archive to serve: the newly resolved one, or the last good one when this spec fails (or its secrets are still being read). */
export async function resolvePhase(draft: StatusDraft, o: ResolveInput): Promise<ResolvedArchive | undefined> {
  const { spec, provider: p } = o;
  const previous = draft.status.resolved;
  const names = (spec.archive.pullSecrets ?? []).map((s) => s.name);
  const secrets = names.length ? o.pullSecrets.lookup(o.key, p.metadata.namespace!, names) : { secrets: [] };
  if (!secrets) {
    // first read of a secret under way: the cache enqueues this Provider when it arrives
    draft.requeueWithin(5_000);
    return previous;
  }
  try {
    if (o.trustProblem) throw new ResolveFailure('UntrustedIssuer', o.trustProblem, false);
    if ('error' in secrets) throw secrets.error;
    // a short name resolves through the mapping (and may be fetched through a mirror, `via`);
    // instances and status carry the full ref they are fetched from, the log keeps the origin's name
    const mapped = o.namespaces ? o.namespaces.resolve(spec.archive.ref) : { ref: spec.archive.ref };
    const ref = mapped.via ?? mapped.ref;
    const credentials = credentialsFor(ref, secrets.secrets);
    let r = await o.resolver.resolve({
      ref,
      revision: spec.archive.revision,
      pullSecrets: secrets.secrets,
      trustedIssuers: o.trustedIssuers,
    });
    // with a log, "highest published" means highest logged: a push tags before it logs, so a
    // newer tag not yet in a checkpoint is a push in flight, not something to run (or to alarm on)
    if (o.logWitness && spec.archive.revision === undefined) {
      const logged = await o.logWitness.highestLogged({ ref, origin: mapped.ref, credentials });
      if (logged !== undefined && logged < r.revision)
        r = await o.resolver.resolve({ ref, revision: logged, pullSecrets: secrets.secrets, trustedIssuers: o.trustedIssuers });
    }
    checkResolved(r, { trustedIssuers: o.trustedIssuers, capabilityId: spec.capabilityId, ref });
    // the log first: a tag that disagrees with its log entry is evidence, not just a moved tag
    const log = o.logWitness
      ? await o.logWitness.check({
          ref,
          origin: mapped.ref,
          resolved: r,
          previous: draft.status.log,
          required: !!spec.archive.requireLog,
          credentials,
        })
      : undefined;
    if (previous?.ref === ref && previous.revision === r.revision && previous.digest !== r.digest) throw revisionMoved(ref, previous, r);
    if (spec.archive.digest && r.digest !== spec.archive.digest) throw digestPinMismatch(ref, spec.archive.digest, r);
    if (previous?.digest !== r.digest) {
      o.events.record(p, 'Normal', 'Resolved', `${ref} revision ${r.revision} → ${r.digest} (${r.targets.join(', ')})`);
      draft.status.progressingSince = undefined;
    }
    if (log) draft.status.log = log;
    draft.set(
      'Resolved',
      'True',
      'Resolved',
      `revision ${r.revision} (${r.digest})${log ? `, in log ${log.origin} at index ${log.revisionIndex} (checkpoint of size ${log.size})` : ''}`,
    );
    return { ...r, ref };
  } catch (err) {
    const f = failureFromError(err, spec.archive.ref);
    o.metrics.failures.inc({ reason: f.reason });
    // the last good revision keeps serving a failed resolve only while its signer is still
    // trusted: after trust narrowed at run time, nothing new of it is placed (fail closed)
    const keep = previous && o.trustedIssuers.includes(previous.issuer ?? '') ? previous : undefined;
    const serving = keep ? ` Still serving revision ${keep.revision}.` : previous ? untrustedPrevious(previous) : '';
    draft.set('Resolved', 'False', f.reason, f.message + serving);
    o.events.record(p, 'Warning', f.reason, keep ? f.message : f.message + serving);
    o.log.warn({ reason: f.reason, err: f.message }, 'resolve failed');
    if (f.transient) draft.retryWith(f);
    else draft.requeueWithin(15_000);
    return keep;
  }
}

/** What happens to a revision whose issuer the trust in force no longer names. */
function untrustedPrevious(previous: ResolvedArchive): string {
  return ` No new instance of revision ${previous.revision} is placed: its issuer ${previous.issuer ?? '(unknown)'} is not trusted now; the agents stop its running instances (UntrustedIssuer).`;
}

/**
 * A published revision never changes: when the one this Provider already resolved (in the same
 * repository) now names other bytes, the registry — or whoever can write to it — moved its
 * tag. That is an alarm, not a rollout: the digest that was verified and placed keeps serving.
 */
function revisionMoved(ref: string, before: ResolvedArchive, now: ResolvedArchive): ResolveFailure {
  return new ResolveFailure(
    'RevisionMoved',
    `${ref} revision ${now.revision} now points at ${now.digest}, but it resolved to ${before.digest} before; a published revision never changes, so its tag was moved. Not rolling it out: check the registry, then publish a new revision (or set spec.archive.revision to another one)`,
    false,
  );
}

/** spec.archive.digest pins the bytes: a registry that resolves the revision to anything else is refused. */
function digestPinMismatch(ref: string, pinned: string, now: ResolvedArchive): ResolveFailure {
  return new ResolveFailure(
    'DigestPinMismatch',
    `${ref} revision ${now.revision} resolves to ${now.digest}, but spec.archive.digest pins ${pinned}; not rolling it out. If the registry is right, update the pin (gantry lock refreshes gantry.lock); otherwise the registry moved the revision`,
    false,
  );
}
