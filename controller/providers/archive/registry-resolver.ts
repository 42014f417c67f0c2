/**
 * The real `ArchiveResolver`, on registry/: revision → digest from the registry (a small
 * config blob, no archive download), then one pull per digest and trust list to verify the
 * archive fully (signature, issuer, hashes) before any instance points at it. Pull secrets
 * become registry credentials for the ref's host (registry/pull-secrets.ts, as in the agent).
 */
import { openArchiveStore, parseArchiveRef, type TransferLimits } from '../../../registry/index.js';
import { credentialsFor } from '../../../registry/pull-secrets.js';
import type { ResolvedArchive } from '../../../api/provider.js';
import { ResolveFailure, type ArchiveResolver, type ResolveRequest } from './resolver.js';
import { TRUST_POLICY_HINT } from '../../../api/trust.js';

export interface RegistryResolverOptions {
  plainHttpRegistries?: string[];
  caFile?: string;
  timeoutMs?: number;
  /** archives larger than this are refused before a byte is read (default 256 MiB) */
  maxArchiveBytes?: number;
  /** every registry request's deadline and minimum transfer rate (default DEFAULT_TRANSFER_LIMITS) */
  transferLimits?: TransferLimits;
}

export function registryResolver(opts: RegistryResolverOptions = {}): ArchiveResolver {
  const verified = new Set<string>();
  return {
    async resolve(req: ResolveRequest): Promise<ResolvedArchive> {
      const ref = parseArchiveRef(req.ref);
      const credentials = credentialsFor(req.ref, req.pullSecrets ?? []);
      // never `undefined` (= any signer): an empty list in force trusts nothing
      const trustedIssuers = req.trustedIssuers;
      if (trustedIssuers.length === 0)
        throw new ResolveFailure('UntrustedIssuer', `${req.ref}: no trusted issuers; trust comes from ${TRUST_POLICY_HINT}`, false);
      const store = openArchiveStore(ref, {
        plainHttpRegistries: opts.plainHttpRegistries,
        caFile: opts.caFile,
        timeoutMs: opts.timeoutMs,
        maxArchiveBytes: opts.maxArchiveBytes,
        transferLimits: opts.transferLimits,
        credentials,
        trustedIssuers,
      });
      const r = await store.resolve(req.revision);
      const key = `${r.digest}|${trustedIssuers.slice().sort().join(',')}`;
      if (!verified.has(key)) {
        await store.pull(r.digest, { trustedIssuers });
        verified.add(key);
      }
      const s = r.summary;
      return {
        revision: r.revision,
        digest: r.digest,
        ...(s.version !== undefined ? { version: s.version } : {}),
        ...(s.capid !== undefined ? { capid: s.capid } : {}),
        ...(s.name ? { name: s.name } : {}),
        issuer: s.issuer,
        subject: s.subject,
        targets: Object.keys(s.targets).sort(),
      };
    },
  };
}
