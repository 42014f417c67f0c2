/**
 * Provider archives stored by revision, in a registry or an image-layout directory.
 *
 * The convention (docs/storage.md): one OCI image manifest per archive, `artifactType`
 * GANTRY_ARTIFACT_TYPE, a config blob with the claims summary, one layer with the archive
 * bytes. Tag `rev-<N>` per revision and the claims version as a convenience tag. Archives
 * pushed by wasmCloud's tools (their layer media type, any tag) are read too: their summary
 * comes from the archive itself.
 *
 * Rules: a revision once published never moves (re-pushing the same bytes is a no-op; other
 * bytes under the same revision, or a revision not above the highest, are refused). Signed
 * archives only, both ways: push verifies before any byte leaves; pull verifies after the
 * download and before returning bytes. No option turns this off.
 */
import { tarBinaryRanges, verifyPar, type VerifiedPar } from '../par/index.js';
import { logger } from '../runtime/log.js';
import { archiveLayer, buildArchiveManifest, checkConfigSize, parseManifest } from './archive-manifest.js';
import type { BlobParts, ContentBackend } from './backend.js';
import { isDigest, sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';
import { type ArchiveMediaTypes, checkReadableUnder } from './foreign-tools.js';
import { GANTRY_CONFIG, OCI_MANIFEST } from './media-types.js';
import { type ListedArchive, PublishedArchives } from './published-archives.js';
import { isVersionTag, revisionTag } from './revision-tags.js';
import { checkSummaryAgainst, parseConfig, type ArchiveSummary } from './summary.js';

/** The default of --max-archive-bytes: the largest archive pushed, pulled or cached. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 256 * 1024 * 1024;

/** A revision published in a repository: its manifest digest and the summary of its verified claims (no bytes; listed: signed fields only, no sizes or format). */
export interface PublishedArchive {
  revision: number;
  /** manifest digest, sha256:… */
  digest: string;
  summary: ArchiveSummary;
}

export interface PushOptions {
  trustedIssuers?: string[];
  /** whose media types the manifest uses (default gantry); wasmcloud refuses a zip archive */
  mediaTypes?: ArchiveMediaTypes;
  onProgress?(sent: number, total: number): void;
}

export interface PullOptions {
  trustedIssuers?: string[];
  target?: string;
  onProgress?(received: number, total: number): void;
}

export interface PulledArchive {
  bytes: Uint8Array;
  verified: VerifiedPar;
  /** manifest digest */
  digest: string;
  /** the archive layer's digest, checked against the bytes while they were downloaded */
  archiveDigest: string;
}

export interface ArchiveStore {
  readonly description: string;
  push(archive: Uint8Array, opts?: PushOptions): Promise<PublishedArchive>;
  resolve(revision?: number): Promise<PublishedArchive>;
  revisions(): Promise<Array<PublishedArchive & { pushedAt?: string }>>;
  pull(digestOrRevision: string | number, opts?: PullOptions): Promise<PulledArchive>;
  /**
   * Show, without downloading, that the credentials this store was opened with can read the
   * archive `digest` from this repository (a manifest HEAD). Throws RegistryError AUTH_FAILED
   * when they are refused, NOT_FOUND when the repository has no such manifest.
   */
  checkAccess(digest: string): Promise<void>;
}

export class BackendArchiveStore implements ArchiveStore {
  readonly description: string;
  private readonly log;
  private readonly published: PublishedArchives;
  private readonly maxArchiveBytes: number;

  constructor(
    private readonly backend: ContentBackend,
    private readonly defaults: { trustedIssuers?: string[]; maxArchiveBytes?: number } = {},
  ) {
    this.description = backend.description;
    this.maxArchiveBytes = defaults.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES;
    this.log = logger('registry', { store: backend.description });
    this.published = new PublishedArchives(backend, this.log);
  }

  async push(archive: Uint8Array, opts: PushOptions = {}): Promise<PublishedArchive> {
    this.checkArchiveSize(archive.length, 'the archive to push');
    // verification first: nothing unsigned, tampered or untrusted leaves this process
    const verified = await verifyPar(archive, { trustedIssuers: opts.trustedIssuers ?? this.defaults.trustedIssuers });
    const revision = verified.claims.revision;
    if (!Number.isSafeInteger(revision) || revision < 0)
      throw new RegistryError('BAD_MANIFEST', `archive revision ${revision} is not a non-negative integer`);
    const mediaTypes = opts.mediaTypes ?? 'gantry';
    // before the registry is asked anything: under wasmCloud's types a zip would reach tools that cannot read it
    checkReadableUnder(mediaTypes, verified.format);
    const layerBytes = archive;
    // ask what is published first, then hash the archive while the registry answers
    const published = this.published.all();
    published.catch(() => {}); // awaited below; a failure must not go unhandled while we hash
    const layerDigest = sha256Digest(layerBytes);

    const existing = await published;
    const decided = this.checkRevisionRules(existing, revision, layerDigest);
    if (decided) {
      opts.onProgress?.(archive.length, archive.length);
      return publicView(decided);
    }

    const { summary, config, configDigest, manifest } = buildArchiveManifest(
      verified,
      { digest: layerDigest, size: layerBytes.length },
      mediaTypes,
    );

    // the small config blob goes up beside the archive rather than one round trip before it
    await Promise.all([this.backend.putBlob(configDigest, config), this.backend.putBlob(layerDigest, layerBytes, opts.onProgress)]);

    // the upload may have taken a while: look at the revision tag once more right before tagging
    const raced = await this.published.underTag(revisionTag(revision));
    if (raced) {
      const again = this.checkRevisionRules([raced], revision, layerDigest);
      if (again) return publicView(again);
    }
    const digest = await this.backend.putManifest(revisionTag(revision), manifest, OCI_MANIFEST);
    if (summary.version && isVersionTag(summary.version)) {
      // the version tag is a convenience and may move to a newer revision with the same version
      await this.backend.putManifest(summary.version, manifest, OCI_MANIFEST);
    }
    this.log.info({ revision, digest }, 'archive pushed');
    return { revision, digest, summary };
  }

  /** undefined: go ahead and push; an entry: the very same archive is already there (no-op). */
  private checkRevisionRules(existing: ListedArchive[], revision: number, layerDigest: string): ListedArchive | undefined {
    const same = existing.find((e) => e.revision === revision);
    if (same) {
      if (same.layer.digest === layerDigest) return same;
      throw new RegistryError(
        'REVISION_EXISTS',
        `${this.description}: revision ${revision} is already published as ${same.digest} with a different archive; a published revision never changes — sign the new archive with a higher revision and push that`,
      );
    }
    const highest = existing.reduce((m, e) => Math.max(m, e.revision), -1);
    if (highest >= 0 && revision <= highest) {
      throw new RegistryError(
        'REVISION_NOT_INCREASING',
        `${this.description}: revision ${revision} is not greater than the highest published revision ${highest}; revisions increase monotonically — sign the archive with revision ${highest + 1} or more`,
      );
    }
    return undefined;
  }

  async resolve(revision?: number): Promise<PublishedArchive> {
    if (revision !== undefined) {
      if (!Number.isSafeInteger(revision) || revision < 0)
        throw new RegistryError('BAD_REF', `revision ${revision} is not a non-negative integer`);
      const tagged = await this.published.underTag(revisionTag(revision));
      if (tagged && tagged.revision === revision) return publicView(tagged);
    }
    const all = await this.published.all();
    if (revision === undefined) {
      if (!all.length)
        throw new RegistryError('REVISION_NOT_FOUND', `${this.description}: no provider archive has been published here`, {
          available: [],
        });
      return publicView(all.reduce((a, b) => (b.revision > a.revision ? b : a)));
    }
    const found = all.find((e) => e.revision === revision);
    if (found) return publicView(found);
    const available = [...new Set(all.map((e) => e.revision))].sort((a, b) => a - b);
    throw new RegistryError(
      'REVISION_NOT_FOUND',
      `${this.description}: revision ${revision} is not published; ${available.length ? `published revisions: ${available.join(', ')}` : 'nothing is published here'}`,
      { available },
    );
  }

  async revisions(): Promise<Array<PublishedArchive & { pushedAt?: string }>> {
    return (await this.published.all())
      .sort((a, b) => a.revision - b.revision)
      .map((e) => ({ ...publicView(e), ...(e.pushedAt ? { pushedAt: e.pushedAt } : {}) }));
  }

  async pull(digestOrRevision: string | number, opts: PullOptions = {}): Promise<PulledArchive> {
    let digest: string;
    if (typeof digestOrRevision === 'number') digest = (await this.resolve(digestOrRevision)).digest;
    else if (isDigest(digestOrRevision)) digest = digestOrRevision;
    else if (/^[0-9]+$/.test(digestOrRevision)) digest = (await this.resolve(Number(digestOrRevision))).digest;
    else throw new RegistryError('BAD_REF', `"${digestOrRevision}" is neither a manifest digest (sha256:…) nor a revision number`);

    const m = await this.backend.getManifest(digest);
    if (!m) throw new RegistryError('NOT_FOUND', `${this.description}: no manifest ${digest}`);
    const manifest = parseManifest(m.bytes, `${this.description}@${digest}`);
    const layer = archiveLayer(manifest, `${this.description}@${digest}`);
    // sizes as declared, before a byte of either blob is asked for; the download stops there
    this.checkArchiveSize(layer.size, `${this.description}@${digest}: the archive layer`);
    const wantConfig = manifest.config.mediaType === GANTRY_CONFIG;
    if (wantConfig) checkConfigSize(manifest.config, `${this.description}@${digest}`);
    // the small config blob comes alongside the archive rather than one round trip after it
    // a plain tar's binaries are hashed in the download's own pass, beside its digest
    const members: BlobParts = { locate: (prefix) => tarBinaryRanges(prefix, opts.target) };
    const [bytes, configBytes] = await Promise.all([
      this.backend.getBlob(layer.digest, layer.size, opts.onProgress, members),
      wantConfig ? this.backend.getBlob(manifest.config.digest, manifest.config.size) : undefined,
    ]);
    const verified = await verifyPar(bytes, {
      trustedIssuers: opts.trustedIssuers ?? this.defaults.trustedIssuers,
      target: opts.target,
      precomputed: members.found,
    });
    const where = `${this.description}@${digest}`;
    if (configBytes) checkSummaryAgainst(parseConfig(configBytes, where), verified, layer.digest, where);
    return { bytes, verified, digest, archiveDigest: layer.digest };
  }

  async checkAccess(digest: string): Promise<void> {
    if (!isDigest(digest)) throw new RegistryError('BAD_REF', `"${digest}" is not a manifest digest (sha256:…)`);
    if (!(await this.backend.hasManifest(digest))) {
      throw new RegistryError(
        'NOT_FOUND',
        `${this.description}: no manifest ${digest} in this repository; an archive cached from elsewhere is not used for it`,
      );
    }
  }

  private checkArchiveSize(size: number, what: string): void {
    if (size > this.maxArchiveBytes) {
      throw new RegistryError(
        'ARCHIVE_TOO_LARGE',
        `${what} is ${size} bytes, over the ${this.maxArchiveBytes}-byte limit (--max-archive-bytes); refused before reading it — raise the limit if the archive is genuine`,
      );
    }
  }
}

function publicView(e: ListedArchive): PublishedArchive {
  return { revision: e.revision, digest: e.digest, summary: e.summary };
}
