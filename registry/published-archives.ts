/**
 * What a repository has published: every archive under its tags, one per manifest digest and
 * revision, each manifest described once — from the claims JWT in our config blob (every field
 * the blob states checked against it), or for a wasmCloud archive from the signed claims at the
 * front of its layer (never the whole archive). Either way, only signed fields: no sizes, no format. Manifests are
 * immutable, so descriptions are cached by digest and never go stale.
 */
import type { Logger } from '../runtime/log.js';
import { verifyClaimsPrefix } from '../par/index.js';
import { archiveLayer, checkConfigSize, parseManifest, type Descriptor, type ImageManifest } from './archive-manifest.js';
import type { PublishedArchive } from './archive-store.js';
import type { ContentBackend } from './backend.js';
import { CREATED_ANNOTATION, GANTRY_CONFIG } from './media-types.js';
import { isRevisionTag, LOG_TAG_PREFIX, parseRevisionTag } from './revision-tags.js';
import { parseConfig, summaryOfClaims, verifiedSummaryOfConfig } from './summary.js';

/** How much of a wasmCloud layer is read to find its leading claims (a JWT is at most 64 KiB). */
const CLAIMS_PREFIX_BYTES = 256 * 1024;
const DESCRIBE_CONCURRENCY = 8;

/** A published archive with what the store needs beyond the public view. */
export interface ListedArchive extends PublishedArchive {
  pushedAt?: string;
  layer: Descriptor;
  config: Descriptor;
}

export class PublishedArchives {
  private readonly description: string;
  /** summaries by manifest digest: manifests are immutable, so this never goes stale */
  private readonly described = new Map<string, ListedArchive | null>();

  constructor(
    private readonly backend: ContentBackend,
    private readonly log: Logger,
  ) {
    this.description = backend.description;
  }

  /** Every archive in the repository, one entry per manifest digest (revision tags first). */
  async all(): Promise<ListedArchive[]> {
    const tags = await this.backend.listTags();
    // the transparency log's tags (tlog/log/layout.ts) sit beside the archives: never archives
    const ordered = [...tags.filter((t) => isRevisionTag(t)), ...tags.filter((t) => !isRevisionTag(t) && !t.startsWith(LOG_TAG_PREFIX))];
    // look at tags a few at a time: one manifest GET each (plus a config GET the first time)
    const described: Array<ListedArchive | undefined> = [];
    for (let i = 0; i < ordered.length; i += DESCRIBE_CONCURRENCY) {
      described.push(...(await Promise.all(ordered.slice(i, i + DESCRIBE_CONCURRENCY).map((t) => this.underTag(t)))));
    }
    const byDigest = new Map<string, ListedArchive>();
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
    const byRevision = new Map<number, ListedArchive>();
    for (const e of byDigest.values()) if (!byRevision.has(e.revision)) byRevision.set(e.revision, e);
    return [...byRevision.values()];
  }

  /** The archive under `tag`, or undefined when there is none (or it is not an archive). */
  async underTag(tag: string): Promise<ListedArchive | undefined> {
    const m = await this.backend.getManifest(tag);
    if (!m) return undefined;
    const cached = this.described.get(m.digest);
    if (cached !== undefined) return cached ?? undefined;
    const entry = await this.describeManifest(m.bytes, m.digest, tag);
    this.described.set(m.digest, entry ?? null);
    return entry;
  }

  /** Summarise one manifest: from our config blob, or — for wasmCloud archives — from the archive itself. */
  private async describeManifest(bytes: Uint8Array, digest: string, tag: string): Promise<ListedArchive | undefined> {
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
      // shown and scheduled from: only what the claims JWT signs. A forged field throws
      // SUMMARY_MISMATCH naming the tag and field, and so fails the whole listing (fail closed:
      // a repository someone altered is not half-trusted). Expired claims still list; pull refuses them.
      const summary = verifiedSummaryOfConfig(config, where, { anyTime: true });
      return {
        revision: summary.revision,
        digest,
        summary,
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
