/**
 * Reading a log through its tiles: the latest checkpoint from tlog.checkpoint, a revision's leaf
 * from tlog.revision.<r>, and every proof from the O(log n) tiles it needs (tlog/tiles/TiledTree),
 * each authenticated against the signed root. A log written before tiles existed (no
 * tlog.checkpoint) is read the old way — every entry tag — and served through the same
 * interface from tiles built in memory, so readers have one code path ("read both ways").
 */
import type { ContentBackend } from '../../registry/backend.js';
import { encodeBase64 } from '../base64.js';
import type { Checkpoint } from '../checkpoint.js';
import { decodeEntry, encodeEntry, type LogEntry } from '../entry.js';
import { TlogError } from '../errors.js';
import { hashesEqual, leafHash, verifyConsistency, verifyInclusion } from '../merkle.js';
import type { NoteVerifier } from '../note.js';
import { cachedTileSource, growTiles, memoryTileSource, TiledTree, type TileSource } from '../tiles/index.js';
import { layerContent } from './artifact.js';
import {
  checkpointTag,
  defaultOrigin,
  LATEST_CHECKPOINT_TAG,
  LOG_CHECKPOINT_ARTIFACT_TYPE,
  LOG_CHECKPOINT_MEDIA_TYPE,
  LOG_ENTRY_ARTIFACT_TYPE,
  LOG_ENTRY_MEDIA_TYPE,
  LOG_INDEX_ANNOTATION,
  REVISION_TAG,
  revisionTag,
} from './layout.js';
import { openLog, type RepositoryLog, type RevisionEvidence, type VerifiedCheckpoint, verifyCheckpointNote } from './read.js';
import { registryTileSource } from './tiles-store.js';

export interface TiledLogOptions {
  /** the log identity checkpoints must name (default: the backend's `<host>/<repository>`) */
  origin?: string;
  /** tiles already read (immutable) of this repository, shared across opens, e.g. the controller's witness */
  tiles?: TileSource;
}

/** What every reader of a log needs, in O(log n) requests. */
export interface LogReader {
  readonly backend: ContentBackend;
  readonly origin: string;
  /** 'tiles' for a tiled log, 'entries' for a log read the old way (one GET per entry) */
  readonly layout: 'tiles' | 'entries';
  /** no log at all: neither a checkpoint nor an entry (a log with entries but no checkpoint is not empty) */
  readonly empty: boolean;
  /**
   * The latest checkpoint, verified: signature by a trusted key (TLOG_NOTE_*), origin, the
   * size its tag names (TLOG_ROLLBACK for an older note under a newer tag), and the stored tree
   * hashes to its root (TLOG_TILE_MISMATCH / TLOG_ROOT_MISMATCH). TLOG_NO_LOG when none.
   * With `atLeast` (a checkpoint the caller trusts): when tlog.checkpoint lags behind it (two
   * writers raced, the smaller landed last), the immutable tlog.checkpoint.<atLeast.size>.
   */
  latestCheckpoint(verifiers: readonly NoteVerifier[], atLeast?: Checkpoint): Promise<VerifiedCheckpoint>;
  /** The tree of a verified checkpoint. */
  tree(c: Checkpoint): TiledTree;
  /** Revision `revision`'s leaf in the tree of `c`, authenticated; undefined when the log has no entry for it there. */
  findRevision(revision: number, c: Checkpoint): Promise<{ index: number; entry: LogEntry } | undefined>;
  /** As RepositoryLog.proveRevision (same codes), in O(log n) requests. */
  proveRevision(revision: number, digest: string, verifiers: readonly NoteVerifier[], trusted?: string): Promise<RevisionEvidence>;
  /** As RepositoryLog.checkExtends (TLOG_ROLLBACK, TLOG_FORK), from tiles. */
  checkExtends(trusted: Checkpoint, latest: Checkpoint): Promise<Uint8Array[]>;
  /** The highest revision the tree of `c` logs (undefined: none); a tiled log lists its tlog.revision.<r> tags and checks the highest against the tree. */
  highestRevision(c: Checkpoint): Promise<number | undefined>;
}

/** Opens the log behind `backend`: through its tiles when it has tlog.checkpoint, else the old way. */
export async function openTiledLog(backend: ContentBackend, opts: TiledLogOptions = {}): Promise<LogReader> {
  const origin = opts.origin ?? defaultOrigin(backend);
  const latest = await backend.getManifest(LATEST_CHECKPOINT_TAG);
  if (!latest) return new EntriesLog(await openLog(backend, { origin }));
  return new TiledLog(backend, origin, opts.tiles ?? cachedTileSource(registryTileSource(backend)), latest.bytes);
}

/** The note a checkpoint tag holds (undefined when absent); `bytes`: its manifest, already read. */
export async function storedNote(backend: ContentBackend, tag: string, bytes?: Uint8Array): Promise<string | undefined> {
  const m = bytes ?? (await backend.getManifest(tag))?.bytes;
  if (!m) return undefined;
  const where = `${backend.description}:${tag}`;
  const { content } = await layerContent(backend, m, LOG_CHECKPOINT_ARTIFACT_TYPE, LOG_CHECKPOINT_MEDIA_TYPE, where);
  return Buffer.from(content).toString('utf8');
}

/** Both sides of a proof: how RepositoryLog words a rollback, and a fork found from tiles. */
export function rollback(where: string, latest: number, trusted: number): TlogError {
  return new TlogError(
    'TLOG_ROLLBACK',
    `${where}: the log's latest checkpoint has ${latest} entries, fewer than the ${trusted} of a checkpoint already trusted; the registry rolled the log back`,
  );
}

class TiledLog implements LogReader {
  readonly layout = 'tiles';
  readonly empty = false;

  constructor(
    readonly backend: ContentBackend,
    readonly origin: string,
    private readonly tiles: TileSource,
    /** tlog.checkpoint's manifest as read when opening */
    private readonly latestManifest: Uint8Array,
  ) {}

  async latestCheckpoint(verifiers: readonly NoteVerifier[], atLeast?: Checkpoint): Promise<VerifiedCheckpoint> {
    const d = this.backend.description;
    const note = (await storedNote(this.backend, LATEST_CHECKPOINT_TAG, this.latestManifest)) as string;
    let v = verifyCheckpointNote(note, verifiers, this.origin);
    if (atLeast && v.checkpoint.size < atLeast.size) {
      // a lagging tlog.checkpoint is not a rollback while the trusted size's immutable checkpoint is there
      const kept = await storedNote(this.backend, checkpointTag(atLeast.size));
      if (kept === undefined) throw rollback(d, v.checkpoint.size, atLeast.size);
      v = verifyCheckpointNote(kept, verifiers, this.origin);
    } else {
      // the mutable tag must serve a checkpoint its immutable tag holds too: what mirrors and
      // older readers (which list tlog.checkpoint.<n>) see is the same tree
      const tag = checkpointTag(v.checkpoint.size);
      const same = await storedNote(this.backend, tag);
      if (same === undefined)
        throw new TlogError(
          'TLOG_CHECKPOINT_MALFORMED',
          `${d}:${LATEST_CHECKPOINT_TAG} serves a checkpoint of size ${v.checkpoint.size}, but ${tag} is absent`,
        );
      const kept = verifyCheckpointNote(same, verifiers, this.origin).checkpoint;
      if (kept.size !== v.checkpoint.size || !hashesEqual(kept.root, v.checkpoint.root))
        throw new TlogError(
          kept.size < v.checkpoint.size ? 'TLOG_ROLLBACK' : 'TLOG_FORK',
          `${d}: ${LATEST_CHECKPOINT_TAG} and ${tag} are two signed checkpoints of size ${v.checkpoint.size} with different roots (or ${tag} serves size ${kept.size}); the log's key signed two histories`,
        );
    }
    // the stored tree hashes to the signed root: its right edge, read once (and cached for the proofs)
    if (v.checkpoint.size > 0) await this.tree(v.checkpoint).leafHash(v.checkpoint.size - 1);
    return v;
  }

  /** one tree per checkpoint: a TiledTree keeps the tiles it authenticated */
  private readonly trees = new Map<string, TiledTree>();

  tree(c: Checkpoint): TiledTree {
    const key = `${c.size}/${encodeBase64(c.root)}`;
    let t = this.trees.get(key);
    if (!t) {
      t = new TiledTree(this.tiles, c.size, c.root);
      this.trees.set(key, t);
    }
    return t;
  }

  async findRevision(revision: number, c: Checkpoint): Promise<{ index: number; entry: LogEntry } | undefined> {
    const tag = revisionTag(revision);
    const m = await this.backend.getManifest(tag);
    if (!m) return undefined;
    const where = `${this.backend.description}:${tag}`;
    const { annotations } = await layerContent(this.backend, m.bytes, LOG_ENTRY_ARTIFACT_TYPE, LOG_ENTRY_MEDIA_TYPE, where);
    const index = Number(annotations[LOG_INDEX_ANNOTATION]);
    if (!Number.isSafeInteger(index) || index < 0)
      throw new TlogError('TLOG_ENTRY_MALFORMED', `${where} names no leaf index (annotation ${LOG_INDEX_ANNOTATION})`);
    if (index >= c.size) return undefined;
    // the tree is the authority; the pointer only says where to look
    const [bytes] = await this.tree(c).entries(index, index + 1);
    const entry = decodeEntry(bytes);
    if (entry.revision !== revision)
      throw new TlogError(
        'TLOG_ENTRY_MALFORMED',
        `${where} points at leaf ${index}, which logs revision ${entry.revision}, not ${revision}: a lying revision pointer`,
      );
    return { index, entry };
  }

  async proveRevision(revision: number, digest: string, verifiers: readonly NoteVerifier[], trusted?: string): Promise<RevisionEvidence> {
    const t = trusted === undefined ? undefined : verifyCheckpointNote(trusted, verifiers, this.origin).checkpoint;
    const checkpoint = await this.latestCheckpoint(verifiers, t);
    return proveOn(this, revision, digest, checkpoint, t);
  }

  async highestRevision(c: Checkpoint): Promise<number | undefined> {
    const revisions = (await this.backend.listTags())
      .map((t) => REVISION_TAG.exec(t))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
    for (const r of revisions) {
      // a pointer past this tree (a newer checkpoint's) or one that lies offers nothing
      const found = await this.findRevision(r, c).catch(() => undefined);
      if (found) return r;
    }
    return undefined;
  }

  async checkExtends(trusted: Checkpoint, latest: Checkpoint): Promise<Uint8Array[]> {
    const d = this.backend.description;
    if (latest.size < trusted.size) throw rollback(d, latest.size, trusted.size);
    if (trusted.size === 0) return [];
    const tree = this.tree(latest);
    const mine = await tree.rootAt(trusted.size);
    if (!hashesEqual(mine, trusted.root)) {
      throw new TlogError(
        'TLOG_FORK',
        `${d}: the first ${trusted.size} entries of this log hash to ${encodeBase64(mine)}, the trusted checkpoint says ${encodeBase64(trusted.root)}; the history was rewritten (a fork)`,
      );
    }
    if (trusted.size === latest.size) return [];
    const proof = await tree.consistencyProof(trusted.size);
    try {
      verifyConsistency(trusted.size, latest.size, proof, trusted.root, latest.root);
    } catch (e) {
      throw new TlogError(
        'TLOG_FORK',
        `${d}: no consistency proof links the trusted checkpoint of size ${trusted.size} to the latest of size ${latest.size}`,
        { cause: e },
      );
    }
    return proof;
  }
}

/** proveRevision's checks once the latest checkpoint is verified (shared by both layouts). */
async function proveOn(
  log: LogReader,
  revision: number,
  digest: string,
  checkpoint: VerifiedCheckpoint,
  trusted: Checkpoint | undefined,
): Promise<RevisionEvidence> {
  const cp = checkpoint.checkpoint;
  const found = await log.findRevision(revision, cp);
  if (!found)
    throw new TlogError(
      'TLOG_UNLOGGED_REVISION',
      `${log.backend.description}: revision ${revision} is not in the log's latest checkpoint (size ${cp.size})`,
    );
  const proof = await log.tree(cp).inclusionProof(found.index);
  const leaf = leafHash(encodeEntry(found.entry));
  verifyInclusion(leaf, found.index, cp.size, proof, cp.root);
  if (found.entry.digest !== digest) {
    throw new TlogError(
      'TLOG_TAG_MISMATCH',
      `${log.backend.description}: revision ${revision} resolves to ${digest}, the log records ${found.entry.digest}; the tag was re-pointed`,
    );
  }
  const consistency = trusted === undefined ? undefined : await log.checkExtends(trusted, cp);
  const inclusion = { revision, index: found.index, treeSize: cp.size, leafHash: leaf, proof, root: cp.root, entry: found.entry };
  return { checkpoint, inclusion, consistency };
}

/** A log without tiles, read the old way, behind the same interface (tiles built in memory per tree size). */
export class EntriesLog implements LogReader {
  readonly layout = 'entries';
  private readonly built = new Map<number, TileSource>();

  constructor(readonly log: RepositoryLog) {}

  get backend(): ContentBackend {
    return this.log.backend;
  }

  get origin(): string {
    return this.log.origin;
  }

  get empty(): boolean {
    return this.log.size === 0 && this.log.checkpointSizes.length === 0;
  }

  latestCheckpoint(verifiers: readonly NoteVerifier[]): Promise<VerifiedCheckpoint> {
    return this.log.latestCheckpoint(verifiers);
  }

  tree(c: Checkpoint): TiledTree {
    return new TiledTree(this.source(c.size), c.size, c.root);
  }

  /** The tiles of the first `size` stored entries, built on first use (growTiles reads nothing without a source). */
  private source(size: number): TileSource {
    let s = this.built.get(size);
    if (!s) {
      const grown = growTiles(
        undefined,
        0,
        this.log.entries.slice(0, size).map((e) => encodeEntry(e)),
      );
      let tiles: TileSource | undefined;
      const ready = async () => {
        tiles ??= memoryTileSource((await grown).writes);
        return tiles;
      };
      s = { hashTile: async (t) => (await ready()).hashTile(t), bundle: async (b) => (await ready()).bundle(b) };
      this.built.set(size, s);
    }
    return s;
  }

  async findRevision(revision: number, c: Checkpoint): Promise<{ index: number; entry: LogEntry } | undefined> {
    const index = this.log.indexOfRevision(revision);
    return index === undefined || index >= c.size ? undefined : { index, entry: this.log.entries[index] };
  }

  proveRevision(revision: number, digest: string, verifiers: readonly NoteVerifier[], trusted?: string): Promise<RevisionEvidence> {
    return this.log.proveRevision(revision, digest, verifiers, trusted);
  }

  async checkExtends(trusted: Checkpoint, latest: Checkpoint): Promise<Uint8Array[]> {
    return this.log.checkExtends(trusted, latest);
  }

  async highestRevision(c: Checkpoint): Promise<number | undefined> {
    const within = this.log.entries.slice(0, c.size);
    return within.length ? within.reduce((m, e) => Math.max(m, e.revision), 0) : undefined;
  }
}
