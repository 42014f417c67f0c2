/**
 * Large logs for the scale bench (bench/tlog.ts) and test (test/tlog/tiles-scale.test.ts):
 * a log of n entries generated directly as C2SP tiles (tiled-log.ts, not n pushes) and stored,
 * with a handful of tlog.revision.<r> tags, its signed checkpoint under tlog.checkpoint.<n> and
 * tlog.checkpoint, and no entry tags below it — what a tiled log's readers read. And a
 * ContentBackend that counts the requests made through it.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import {
  encodeEntry,
  formatCheckpoint,
  LATEST_CHECKPOINT_TAG,
  type LogEntry,
  type NoteSigner,
  signNote,
  storeCheckpointNote,
  storeTiles,
  type tiles,
} from '../../tlog/index.js';
import { checkpointManifest, entryManifest } from '../../tlog/log/artifact.js';
import { revisionTag } from '../../tlog/log/layout.js';
import { putArtifactBlobs } from '../../tlog/log/store.js';
import { generateTiledLog as generateLog } from './tiled-log.js';

const ISSUER = `A${'B'.repeat(55)}`;
const SUBJECT = `V${'C'.repeat(55)}`;

/** Entry i of a generated log: revision i + 1. */
export function scaleEntry(i: number): LogEntry {
  return {
    revision: i + 1,
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    issuer: ISSUER,
    subject: SUBJECT,
    capid: 'bench:scale',
    version: `1.0.${i + 1}`,
  };
}

export interface GeneratedLog {
  size: number;
  root: Uint8Array;
  note: string;
  /** the generated tiles, in memory (a source for growing a fork from) */
  tiles: tiles.TileSource;
}

/**
 * Writes a log of `size` generated entries into `backend` as tiles, with revision tags for the
 * leaves `indexed`, and signs its checkpoint. `store` replaces storeTiles (a bulk writer for an
 * image-layout directory, whose index is rewritten per tag).
 */
export async function generateTiledLog(
  backend: ContentBackend,
  opts: {
    size: number;
    signer: NoteSigner;
    origin: string;
    indexed: number[];
    store?: (writes: tiles.TileWrite[]) => Promise<void>;
  },
): Promise<GeneratedLog> {
  const grown = await generateLog(opts.size, (i) => encodeEntry(scaleEntry(i)));
  await (opts.store ?? ((w) => storeTiles(backend, w)))([...grown.writes.values()]);
  for (const i of opts.indexed) {
    const content = encodeEntry(scaleEntry(i));
    await putArtifactBlobs(backend, content);
    await backend.putManifest(revisionTag(i + 1), entryManifest(i, content), OCI_MANIFEST);
  }
  const note = signNote(formatCheckpoint({ origin: opts.origin, size: opts.size, root: grown.root, extensions: [] }), [opts.signer]);
  await publishCheckpoint(backend, opts.size, note);
  return { size: opts.size, root: grown.root, note, tiles: grown.source };
}

/** Stores `note` as tlog.checkpoint.<size> and tlog.checkpoint (a writer's last two steps). */
export async function publishCheckpoint(backend: ContentBackend, size: number, note: string): Promise<void> {
  await storeCheckpointNote(backend, size, note);
  const bytes = checkpointManifest(size, new Uint8Array(Buffer.from(note, 'utf8')));
  await backend.putManifest(LATEST_CHECKPOINT_TAG, bytes, OCI_MANIFEST);
}

/** Counts the calls made through it: each is one registry request (putBlob: one HEAD, and the upload when absent). */
export class CountingBackend implements ContentBackend {
  requests = 0;
  readonly description: string;

  constructor(private readonly inner: ContentBackend) {
    this.description = inner.description;
  }

  private count<T>(p: () => Promise<T>): Promise<T> {
    this.requests++;
    return p();
  }

  listTags(): Promise<string[]> {
    return this.count(() => this.inner.listTags());
  }
  getManifest(reference: string) {
    return this.count(() => this.inner.getManifest(reference));
  }
  putManifest(tag: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    return this.count(() => this.inner.putManifest(tag, bytes, mediaType));
  }
  hasBlob(digest: string): Promise<boolean> {
    return this.count(() => this.inner.hasBlob(digest));
  }
  hasManifest(digest: string): Promise<boolean> {
    return this.count(() => this.inner.hasManifest(digest));
  }
  putBlob(digest: string, bytes: Uint8Array): Promise<void> {
    return this.count(() => this.inner.putBlob(digest, bytes));
  }
  getBlobPrefix(digest: string, maxBytes: number): Promise<Uint8Array> {
    return this.count(() => this.inner.getBlobPrefix(digest, maxBytes));
  }
  getBlob(digest: string, size?: number): Promise<Uint8Array> {
    return this.count(() => this.inner.getBlob(digest, size));
  }
}
