/**
 * registry/: where provider archives are stored and fetched — OCI distribution registries and
 * OCI image-layout directories — by revision, signed archives only. See docs/storage.md.
 */
import { BackendArchiveStore, type ArchiveStore } from './archive-store.js';
import { DistributionClient } from './distribution/client.js';
import type { RegistryCredentials } from './distribution/auth.js';
import type { ContentBackend } from './backend.js';
import { ImageLayoutBackend } from './layout/image-layout.js';
import { parseArchiveRef, type ArchiveRef } from './reference.js';
import type { TransferLimits } from './distribution/transfer-guard.js';

export { mirrorRepository, type MirrorReport } from './mirror.js';
export { loadNamespaceMap, type MappedRef, type NamespaceMap } from './namespaces.js';

export { parseArchiveRef, formatArchiveRef, type ArchiveRef } from './reference.js';
export { RegistryError, type RegistryErrorCode } from './errors.js';
export type { ArchiveSummary } from './summary.js';
export { ARCHIVE_MEDIA_TYPES, archiveTitle, slug, type ArchiveMediaTypes } from './foreign-tools.js';
export { revisionTag, parseRevisionTag, isRevisionTag, LOG_TAG_PREFIX } from './revision-tags.js';
export {
  DEFAULT_MAX_ARCHIVE_BYTES,
  type ArchiveStore,
  type PulledArchive,
  type PublishedArchive,
  type PushOptions,
  type PullOptions,
} from './archive-store.js';
export { credentialsFromDockerConfig, type RegistryCredentials } from './distribution/auth.js';
export { ArchiveCache, type CachedArchive } from './cache.js';
export { DistributionClient } from './distribution/client.js';
export { DEFAULT_TRANSFER_LIMITS, checkLimits, type TransferLimits } from './distribution/transfer-guard.js';
export { ImageLayoutBackend, atomicWrite } from './layout/image-layout.js';
export * from './media-types.js';
export type { ContentBackend } from './backend.js';
export { sha256Digest, isDigest } from './digest.js';

export interface StoreOptions {
  /** HOST:PORT values allowed over plain HTTP (registries and token realms); all else is HTTPS */
  plainHttpRegistries?: string[];
  /** from a docker config.json / dockerconfigjson Secret: credentialsFromDockerConfig() */
  credentials?: RegistryCredentials;
  /** PEM file with the CA(s) that sign the registry's certificate */
  caFile?: string;
  /** per-request budget before a body is counted (default 30 s) */
  timeoutMs?: number;
  /** trust list used when push/pull are given none */
  trustedIssuers?: string[];
  /** blobs above this size are uploaded in PATCH chunks of this size (default 64 MiB) */
  chunkBytes?: number;
  /** archives larger than this are refused before a byte is read (default 256 MiB: DEFAULT_MAX_ARCHIVE_BYTES) */
  maxArchiveBytes?: number;
  /** every registry request's deadline and minimum transfer rate (default DEFAULT_TRANSFER_LIMITS) */
  transferLimits?: TransferLimits;
}

export function openArchiveStore(ref: string | ArchiveRef, opts: StoreOptions = {}): ArchiveStore {
  return new BackendArchiveStore(openContentBackend(ref, opts), {
    trustedIssuers: opts.trustedIssuers,
    maxArchiveBytes: opts.maxArchiveBytes,
  });
}

/** The tags, manifests and blobs behind `ref`, for what lives beside the archives (tlog/). */
export function openContentBackend(ref: string | ArchiveRef, opts: StoreOptions = {}): ContentBackend {
  const parsed = typeof ref === 'string' ? parseArchiveRef(ref) : ref;
  return parsed.kind === 'oci-layout'
    ? new ImageLayoutBackend(parsed.path)
    : new DistributionClient(parsed.host, parsed.repository, {
        plainHttpHosts: opts.plainHttpRegistries,
        credentials: opts.credentials,
        caFile: opts.caFile,
        timeoutMs: opts.timeoutMs,
        chunkBytes: opts.chunkBytes,
        limits: opts.transferLimits,
      });
}
