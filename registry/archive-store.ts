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
import { verifyClaimsPrefix, verifyPar, type VerifiedPar } from '../par/index.js';
import { logger } from '../runtime/log.js';
import type { ContentBackend } from './backend.js';
import { isDigest, sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';
import { isRevisionTag, parseRevisionTag, revisionTag } from './revision-tags.js';
import { ARCHIVE_LAYERS, CREATED_ANNOTATION, GANTRY_ARTIFACT_TYPE, GANTRY_CONFIG, GANTRY_LAYER, OCI_MANIFEST } from './media-types.js';
import {
  checkSummaryAgainst,
  configOf,
  parseConfig,
  summaryFromConfig,
  summaryOf,
  summaryOfClaims,
  type ArchiveSummary,
} from './summary.js';

/** The default of --max-archive-bytes: the largest archive pushed, pulled or cached. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 256 * 1024 * 1024;
/** Config blobs hold a summary and one claims token: far below this. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** How much of a wasmCloud layer is read to find its leading claims (a JWT is at most 64 KiB). */
const CLAIMS_PREFIX_BYTES = 256 * 1024;

/** A revision published in a repository: its manifest digest and claims summary (no bytes). */
export interface PublishedArchive {
  revision: number;
  /** manifest digest, sha256:… */
  digest: string;
  summary: ArchiveSummary;
}

export interface PushOptions {
  trustedIssuers?: string[];
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

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

interface Entry extends PublishedArchive {
  pushedAt?: string;
  layer: Descriptor;
  config: Descriptor;
}

/** Tags reserved for the transparency log (docs/transparency.md): a version tag never takes one. */
export const LOG_TAG_PREFIX = 'tlog.';
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DESCRIBE_CONCURRENCY = 8;

export class BackendArchiveStore implements ArchiveStore {
  readonly description: string;
  private readonly log;
  /** summaries by manifest digest: manifests are immutable, so this never goes stale */
  private readonly described = new Map<string, Entry | null>();

  private readonly maxArchiveBytes: number;

  constructor(
    private readonly backend: ContentBackend,
    private readonly defaults: { trustedIssuers?: string[]; maxArchiveBytes?: number } = {},
  ) {
    this.description = backend.description;
    this.maxArchiveBytes = defaults.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES;
    this.log = logger('registry', { store: backend.description });
  }

  async push(archive: Uint8Array, opts: PushOptions = {}): Promise<PublishedArchive> {
    this.checkArchiveSize(archive.length, 'the archive to push');
    // verification first: nothing unsigned, tampered or untrusted leaves this process
    const verified = await verifyPar(archive, { trustedIssuers: opts.trustedIssuers ?? this.defaults.trustedIssuers });
    const revision = verified.claims.revision;
    if (!Number.isSafeInteger(revision) || revision < 0)
      throw new RegistryError('BAD_MANIFEST', `archive revision ${revision} is not a non-negative integer`);
    const layerBytes = archive;
    // ask what is published first, then hash the archive while the registry answers
    const published = this.entries();
    published.catch(() => {}); // awaited below; a failure must not go unhandled while we hash
    const layerDigest = sha256Digest(layerBytes);

    const existing = await published;
    const decided = this.checkRevisionRules(existing, revision, layerDigest);
    if (decided) {
      opts.onProgress?.(archive.length, archive.length);
      return publicView(decided);
    }

    const config = Buffer.from(JSON.stringify(configOf(verified, { digest: layerDigest, size: layerBytes.length })));
    const configDigest = sha256Digest(config);
    const summary = summaryOf(verified);
    const annotations: Record<string, string> = { [CREATED_ANNOTATION]: new Date().toISOString(), 'dev.gantry.revision': String(revision) };
    if (summary.version) annotations['org.opencontainers.image.version'] = summary.version;
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: GANTRY_ARTIFACT_TYPE,
      config: { mediaType: GANTRY_CONFIG, digest: configDigest, size: config.length },
      layers: [
        {
          mediaType: GANTRY_LAYER,
          digest: layerDigest,
          size: layerBytes.length,
          annotations: { 'org.opencontainers.image.title': `${summary.name ?? 'provider'}.par` },
        },
      ],
      annotations,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));

    // the small config blob goes up beside the archive rather than one round trip before it
    await Promise.all([this.backend.putBlob(configDigest, config), this.backend.putBlob(layerDigest, layerBytes, opts.onProgress)]);

    // the upload may have taken a while: look at the revision tag once more right before tagging
    const raced = await this.describeTag(revisionTag(revision));
    if (raced) {
      const again = this.checkRevisionRules([raced], revision, layerDigest);
      if (again) return publicView(again);
    }
    const digest = await this.backend.putManifest(revisionTag(revision), manifestBytes, OCI_MANIFEST);
    if (
      summary.version &&
      TAG.test(summary.version) &&
      !isRevisionTag(summary.version) &&
      summary.version !== 'latest' &&
      !summary.version.startsWith(LOG_TAG_PREFIX)
    ) {
      // the version tag is a convenience and may move to a newer revision with the same version
      await this.backend.putManifest(summary.version, manifestBytes, OCI_MANIFEST);
    }
    this.log.info({ revision, digest }, 'archive pushed');
    return { revision, digest, summary };
  }

  /** undefined: go ahead and push; an entry: the very same archive is already there (no-op). */
  private checkRevisionRules(existing: Entry[], revision: number, layerDigest: string): Entry | undefined {
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
      const tagged = await this.describeTag(revisionTag(revision));
      if (tagged && tagged.revision === revision) return publicView(tagged);
    }
    const all = await this.entries();
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
    return (await this.entries())
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
    const [bytes, configBytes] = await Promise.all([
      this.backend.getBlob(layer.digest, layer.size, opts.onProgress),
      wantConfig ? this.backend.getBlob(manifest.config.digest, manifest.config.size) : undefined,
    ]);
    const verified = await verifyPar(bytes, { trustedIssuers: opts.trustedIssuers ?? this.defaults.trustedIssuers, target: opts.target });
    if (configBytes)
      checkSummaryAgainst(parseConfig(configBytes, `${this.description}@${digest}`), verified, `${this.description}@${digest}`);
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

  /** Every archive in the repository, one entry per manifest digest (revision tags first). */
  private async entries(): Promise<Entry[]> {
    const tags = await this.backend.listTags();
    // the transparency log's tags (tlog/log/layout.ts) sit beside the archives: never archives
    const ordered = [...tags.filter((t) => isRevisionTag(t)), ...tags.filter((t) => !isRevisionTag(t) && !t.startsWith(LOG_TAG_PREFIX))];
    // look at tags a few at a time: one manifest GET each (plus a config GET the first time)
    const described: Array<Entry | undefined> = [];
    for (let i = 0; i < ordered.length; i += DESCRIBE_CONCURRENCY) {
      described.push(...(await Promise.all(ordered.slice(i, i + DESCRIBE_CONCURRENCY).map((t) => this.describeTag(t)))));
    }
    const byDigest = new Map<string, Entry>();
    for (const [i, tag] of ordered.entries()) {
      const entry = described[i];
      if (!entry || byDigest.has(entry.digest)) continue;
      const tagged = parseRevisionTag(tag);
      if (tagged !== undefined && tagged !== entry.revision) {
        this.log.warn({ tag, revision: entry.revision }, 'revision tag disagrees with the archive summary; ignored');
        continue;
      }
      byDigest.set(entry.digest, entry);
    }
    // the same revision under two digests (e.g. a wasmCloud tag and ours): keep the first, i.e. the rev- tag
    const byRevision = new Map<number, Entry>();
    for (const e of byDigest.values()) if (!byRevision.has(e.revision)) byRevision.set(e.revision, e);
    return [...byRevision.values()];
  }

  private async describeTag(tag: string): Promise<Entry | undefined> {
    const m = await this.backend.getManifest(tag);
    if (!m) return undefined;
    const cached = this.described.get(m.digest);
    if (cached !== undefined) return cached ?? undefined;
    const entry = await this.describeManifest(m.bytes, m.digest, tag);
    this.described.set(m.digest, entry ?? null);
    return entry;
  }

  /** Summarise one manifest: from our config blob, or — for wasmCloud archives — from the archive itself. */
  private async describeManifest(bytes: Uint8Array, digest: string, tag: string): Promise<Entry | undefined> {
    const where = `${this.description}:${tag}`;
    let manifest: ImageManifest;
    let layer: Descriptor;
    try {
      manifest = parseManifest(bytes, where);
      layer = archiveLayer(manifest, where);
    } catch (e) {
      this.log.debug({ tag, err: (e as Error).message }, 'not a provider archive; skipped');
      return undefined;
    }
    const pushedAt = manifest.annotations?.[CREATED_ANNOTATION];
    if (manifest.config.mediaType === GANTRY_CONFIG) {
      checkConfigSize(manifest.config, where);
      const config = parseConfig(await this.backend.getBlob(manifest.config.digest, manifest.config.size), where);
      return {
        revision: config.revision,
        digest,
        summary: summaryFromConfig(config),
        layer,
        config: manifest.config,
        ...(pushedAt ? { pushedAt } : {}),
      };
    }
    // a wasmCloud archive carries no summary: read its signed claims from the front of the
    // layer (wasmCloud writes claims.jwt first), never the whole archive; pull verifies all of it
    try {
      const prefix = await this.backend.getBlobPrefix(layer.digest, Math.min(layer.size, CLAIMS_PREFIX_BYTES));
      const { claims, format } = await verifyClaimsPrefix(prefix);
      const summary = summaryOfClaims(claims, format);
      return { revision: summary.revision, digest, summary, layer, config: manifest.config, ...(pushedAt ? { pushedAt } : {}) };
    } catch (e) {
      this.log.warn({ tag, err: (e as Error).message }, 'archive under this tag does not verify; not counted as a revision');
      return undefined;
    }
  }
}

function checkConfigSize(config: Descriptor, where: string): void {
  if (!Number.isSafeInteger(config.size) || config.size < 0 || config.size > MAX_CONFIG_BYTES) {
    throw new RegistryError(
      'BAD_MANIFEST',
      `${where}: the config blob declares ${config.size} bytes; a Gantry archive summary is at most ${MAX_CONFIG_BYTES}`,
    );
  }
}

function publicView(e: Entry): PublishedArchive {
  return { revision: e.revision, digest: e.digest, summary: e.summary };
}

function parseManifest(bytes: Uint8Array, where: string): ImageManifest {
  let m: ImageManifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageManifest;
  } catch (e) {
    throw new RegistryError('BAD_MANIFEST', `${where}: manifest is not JSON (${(e as Error).message})`);
  }
  if (m?.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers))
    throw new RegistryError('NOT_AN_ARCHIVE', `${where}: not an OCI image manifest`);
  return m;
}

function archiveLayer(m: ImageManifest, where: string): Descriptor {
  const layers = m.layers.filter((l) => (ARCHIVE_LAYERS as readonly string[]).includes(l.mediaType));
  if (layers.length !== 1) {
    throw new RegistryError(
      'NOT_AN_ARCHIVE',
      `${where}: expected exactly one provider-archive layer (${ARCHIVE_LAYERS.join(' or ')}), found ${layers.length}`,
    );
  }
  const l = layers[0];
  if (!isDigest(l.digest) || !Number.isSafeInteger(l.size) || l.size < 0)
    throw new RegistryError('BAD_MANIFEST', `${where}: archive layer has a bad digest or size`);
  return l;
}
