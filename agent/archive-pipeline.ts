/**
 * From an instance's `spec.archive` (ref + digest) to a verified library on local disk:
 *
 *   1. refuse at once an instance bound to a target this agent cannot load;
 *   2. Fetching: show that this instance's credentials (the pull credential the controller
 *      wrote for it in the credentials namespace, agent/pull-creds.ts, or anonymous) can
 *      read the digest from the repository it names (a manifest HEAD, remembered a while:
 *      registry-access.ts) — else it stays Fetching with RegistryUnauthorized, whatever is
 *      cached; then pull the archive by digest through the ArchiveCache, with those
 *      credentials and the agent's plain-HTTP registry list. The cache
 *      verifies on every read, cached or downloaded — signature, issuer on the trust list in
 *      force, the signed hash of *this node's* target binary — and hands back that binary;
 *      a cache entry altered on disk is dropped and fetched again, a bad archive in the
 *      registry is refused;
 *   3. Verifying: check the claims' capid against the instance's expectation and write the
 *      verified binary into the content-addressed BinaryStore.
 *
 * The trust list in force is the agent's `--trust-issuer` keys (cluster policy) narrowed by
 * the instance's `spec.issuers` (api/trust.ts): an instance can restrict it, never add a key.
 * With an empty policy nothing is loaded: an agent never runs code nobody vouched for.
 */
import { hostTarget } from './target.js';
import type { ProviderInstance } from '../api/index.js';
import type { KubeClient } from '../runtime/kube.js';
import type { KeyPair } from '@nats-io/nkeys';
import { type ArchiveCache, openArchiveStore, type ArchiveStore, type TransferLimits } from '../registry/index.js';
import { type ProviderClaims, type VerifiedPar, verifyClaimsToken } from '../par/index.js';
import type { BinaryStore } from './binaries.js';
import type { SealedLibraries, VerifiedArchive } from './sealed-libraries.js';
import { InstanceFailure } from './failure.js';
import type { AgentMetrics } from './metrics.js';
import type { PreparedBinary } from './instance-runner.js';
import { credentialsFor } from '../registry/pull-secrets.js';
import { instancePullSecrets } from './pull-creds.js';
import { narrowTrust, trustProblem } from '../api/trust.js';
import type { RegistryAccess } from './registry-access.js';
import { keyOf } from '../runtime/toolkit/keys.js';

export interface PipelineOptions {
  kube: KubeClient;
  /** Where the controller writes each instance's sealed pull credential (gantry-nodes). */
  credentialsNamespace: string;
  /** This node's seal key (agent/seal-key.ts): the pull credentials are sealed to it. */
  sealKey: KeyPair;
  cache: ArchiveCache;
  binaries: BinaryStore;
  /** the sealed in-memory copies hosts load, and the digests verified to them (absent: hosts hash the file) */
  sealed?: SealedLibraries;
  /** remembers which (repository, digest, credentials) were shown to have access */
  access: RegistryAccess;
  target: string;
  trustedIssuers: string[];
  /** The trust policy watched at run time (agent/trust-follow.ts): in force instead of trustedIssuers when present. */
  trust?: { readonly issuers: readonly string[] };
  plainHttpRegistries: string[];
  /** archives larger than this are refused from their manifest (default 256 MiB) */
  maxArchiveBytes?: number;
  /** every registry request's deadline and minimum transfer rate (default DEFAULT_TRANSFER_LIMITS) */
  transferLimits?: TransferLimits;
  metrics?: AgentMetrics;
}

export async function prepareBinary(
  o: PipelineOptions,
  inst: ProviderInstance,
  onPhase: (p: 'Fetching' | 'Verifying') => void,
  onStep: (step: string) => void = () => {},
): Promise<PreparedBinary> {
  const spec = inst.spec;
  const namespace = inst.metadata.namespace ?? 'default';
  if (!spec?.archive?.ref || !spec.archive.digest || !spec.target) {
    throw new InstanceFailure('InvalidSpec', 'spec.archive.ref, spec.archive.digest and spec.target are required');
  }
  if (spec.target !== o.target) {
    throw new InstanceFailure('TargetNotSupported', `instance is bound to target ${spec.target}, but this node's agent loads ${o.target}`);
  }
  // the instance can only narrow this agent's policy: a hand-made instance naming its own
  // key is refused here, whatever the controller would have done
  const policy = o.trust?.issuers ?? o.trustedIssuers;
  const trust = narrowTrust(policy, spec.issuers);
  const untrusted = trustProblem(trust, policy, `${keyOf({ namespace, name: inst.metadata.name })} spec.issuers`);
  if (untrusted) throw new InstanceFailure('UntrustedIssuer', untrusted);
  const trusted = trust.trusted;

  onPhase('Fetching');
  // the instance's own narrowed credential from the credentials namespace (agent/pull-creds.ts),
  // matched by the same code as the controller's (registry/pull-secrets.ts)
  const secrets = await instancePullSecrets(o.kube, o.credentialsNamespace, o.sealKey, inst);
  const credentials = credentialsFor(spec.archive.ref, secrets);
  onStep('credentials');
  const opened = openArchiveStore(spec.archive.ref, {
    plainHttpRegistries: o.plainHttpRegistries,
    maxArchiveBytes: o.maxArchiveBytes,
    transferLimits: o.transferLimits,
    credentials,
  });
  const watched = watchPulls(opened);
  const store = watched.store;
  // the cache is keyed by digest: this instance's own credentials must reach that digest in
  // that repository before any copy, cached or in flight for another instance, is used for it
  await o.access.ensure(opened, spec.archive.digest, credentials);
  onStep('accessChecked');
  const known = o.sealed?.recall(spec.archive.digest);
  if (known) return fromSealed(o, spec, known, trusted, onPhase, onStep);
  const fetchStarted = performance.now();
  const observeFetch = (result: 'ok' | 'error') => {
    o.metrics?.fetchDuration.observe({ source: watched.pulled ? 'registry' : 'cache', result }, (performance.now() - fetchStarted) / 1000);
    o.metrics?.cacheRequests.inc({ result: watched.pulled ? 'miss' : 'hit' });
  };
  let verified: VerifiedPar;
  let archivePath: string;
  try {
    ({ verified, path: archivePath } = await o.cache.fetch(store, spec.archive.digest, { trustedIssuers: trusted, target: o.target }));
  } catch (err) {
    observeFetch('error');
    throw err;
  }
  observeFetch('ok');
  onStep(watched.pulled ? 'pulledAndVerified' : 'cacheReadAndVerified');

  onPhase('Verifying');
  const verifyStarted = performance.now();
  try {
    const prepared = checkAndInstall(o, spec, verified);
    // Stryker disable next-line LogicalOperator: remembering a digest whose library was not sealed is harmless — recall() answers only while its sealed copy is held
    if (o.sealed && prepared.sealed)
      o.sealed.remember(spec.archive.digest, verified.jwt, prepared.sha256, [archivePath, prepared.libraryPath]);
    o.metrics?.verifyDuration.observe({ result: 'ok' }, (performance.now() - verifyStarted) / 1000);
    return prepared;
  } catch (err) {
    o.metrics?.verifyDuration.observe({ result: 'error' }, (performance.now() - verifyStarted) / 1000);
    throw err;
  }
}

/** The store, with whether the cache pulled from it: it does only on a miss, so that tells hit from miss. */
function watchPulls(opened: ArchiveStore): { store: ArchiveStore; pulled: boolean } {
  // Stryker disable next-line ObjectLiteral: store is set just below and an absent pulled reads as false
  const w = { store: opened, pulled: false };
  w.store = {
    description: opened.description,
    // Stryker disable next-line ArrowFunction: the cache calls only pull on this wrapper
    push: (...a) => opened.push(...a),
    // Stryker disable next-line ArrowFunction: as above
    resolve: (...a) => opened.resolve(...a),
    // Stryker disable next-line ArrowFunction: as above
    revisions: () => opened.revisions(),
    pull: (...a) => {
      w.pulled = true;
      return opened.pull(...a);
    },
    // Stryker disable next-line ArrowFunction: as above (access is shown on the store itself, above the cache)
    checkAccess: (d) => opened.checkAccess(d),
  };
  return w;
}

/**
 * A digest that verified before on this agent, its library still sealed in memory and its
 * cache files unchanged (sealed-libraries.ts): only its signed claims are checked again, against
 * this instance's trust and the time now — the binary is the sealed copy, which cannot change.
 */
function fromSealed(
  o: PipelineOptions,
  spec: ProviderInstance['spec'],
  known: VerifiedArchive,
  trusted: string[],
  onPhase: (p: 'Fetching' | 'Verifying') => void,
  onStep: (step: string) => void,
): PreparedBinary {
  const started = performance.now();
  const claims = verifyClaimsToken(known.jwt, { trustedIssuers: trusted });
  o.metrics?.fetchDuration.observe({ source: 'cache', result: 'ok' }, (performance.now() - started) / 1000);
  o.metrics?.cacheRequests.inc({ result: 'hit' });
  onStep('claimsRecheckedSealed');
  onPhase('Verifying');
  const { capid, hash } = checkClaimsFor(o, spec, claims);
  // the claims are the same signed text: their hash is the sealed library's
  // Stryker disable next-line ConditionalExpression,EqualityOperator,MethodExpression,StringLiteral: equal by construction (above)
  if (hash.toLowerCase() !== known.sha256)
    throw new InstanceFailure('TargetNotInArchive', `archive ${spec.archive.digest} changed its ${o.target} hash`);
  return { libraryPath: o.binaries.pathFor(hash), capid, sha256: known.sha256, sealed: true, issuer: claims.issuer };
}

/** The capid the instance gets and the signed hash of this node's binary, or why the claims do not fit it. */
function checkClaimsFor(o: PipelineOptions, spec: ProviderInstance['spec'], claims: ProviderClaims): { capid: string; hash: string } {
  if (spec.capid && claims.capid && spec.capid !== claims.capid) {
    throw new InstanceFailure(
      'CapabilityMismatch',
      `the archive's signed capid is ${claims.capid}, but the instance expects ${spec.capid}`,
    );
  }
  const capid = claims.capid ?? spec.capid;
  if (!capid) throw new InstanceFailure('CapabilityMismatch', 'neither the archive claims nor the instance name a capability id');
  const hash = claims.hashes[o.target];
  // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: a guard for the types (verifyPar refuses first)
  if (!hash) throw new InstanceFailure('TargetNotInArchive', `archive ${spec.archive.digest} has no ${o.target} binary`);
  return { capid, hash };
}

/** The archive verified on its own terms: check it against this instance and write the library. */
function checkAndInstall(o: PipelineOptions, spec: ProviderInstance['spec'], verified: VerifiedPar): PreparedBinary {
  const { capid, hash } = checkClaimsFor(o, spec, verified.claims);
  const binary = verified.binary;
  // verifyPar, asked for this target, refuses an archive without its binary first (PAR_TARGET_NOT_FOUND)
  // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: a guard for the types (above)
  if (!binary) throw new InstanceFailure('TargetNotInArchive', `archive ${spec.archive.digest} has no ${o.target} binary`);
  // verifyPar hashed exactly these bytes against this same signed hash, so they are equal; only when it
  // says they match the claims do we skip re-hashing (a false here only costs BinaryStore a second hash)
  // Stryker disable next-line ConditionalExpression,MethodExpression,OptionalChaining,EqualityOperator: equal by construction (above)
  const hashed = verified.targets[o.target]?.sha256?.toUpperCase() === hash.toUpperCase();
  if (o.target !== hostTarget()) {
    // a sandbox node that only stands in for another arch: the archive checked out, but dlopen
    // of a foreign binary would fail with a loader error nobody can act on — say what is going on
    throw new InstanceFailure(
      'ForeignTarget',
      `archive verified, but this agent runs on a ${hostTarget()} host and only advertises ${o.target} for placement; ` +
        `it cannot load ${o.target} binaries`,
    );
  }
  // Stryker disable next-line StringLiteral: an empty reason only makes BinaryStore hash again, and it finds the same hash
  const libraryPath = o.binaries.install(binary, hash, hashed ? 'verifyPar' : undefined);
  // the hosts load the sealed copy (hashed again as it is written); the file stays for where one cannot be made
  const sealed = o.sealed?.seal(binary, hash) ?? false;
  return { libraryPath, capid, sha256: hash.toLowerCase(), issuer: verified.claims.issuer, ...(sealed ? { sealed } : {}) };
}
