/**
 * Reading a log through its tiles (CONTRACT, integ-34; built on branch t2-store): the latest
 * checkpoint from tlog.checkpoint, a revision's leaf from tlog.revision.<r>, and every proof
 * from the O(log n) tiles it needs (tlog/tiles/TiledTree), each authenticated against the
 * signed root. A log written before tiles existed (no tlog.checkpoint, no tiles) is read the
 * old way — every entry tag — and served through the same interface from tiles built in memory,
 * so readers have one code path ("read both ways").
 */
import type { ContentBackend } from '../../registry/backend.js';
import type { Checkpoint } from '../checkpoint.js';
import type { LogEntry } from '../entry.js';
import { TlogError } from '../errors.js';
import type { NoteVerifier } from '../note.js';
import type { TiledTree, TileSource } from '../tiles/index.js';
import type { RevisionEvidence, VerifiedCheckpoint } from './read.js';

export interface TiledLogOptions {
  /** the log identity checkpoints must name (default: the backend's `<host>/<repository>`) */
  origin?: string;
  /** tiles already read (immutable), shared across opens, e.g. the controller's witness */
  tiles?: TileSource;
}

/** What every reader of a log needs, in O(log n) requests. */
export interface LogReader {
  readonly backend: ContentBackend;
  readonly origin: string;
  /** 'tiles' for a tiled log, 'entries' for a log read the old way (one GET per entry) */
  readonly layout: 'tiles' | 'entries';
  /**
   * The latest checkpoint, verified: signature by a trusted key (TLOG_NOTE_*), origin, the
   * size its tag names (TLOG_ROLLBACK for an older note under a newer tag), and the stored tree
   * hashes to its root (TLOG_TILE_MISMATCH / TLOG_ROOT_MISMATCH). TLOG_NO_LOG when none.
   */
  latestCheckpoint(verifiers: readonly NoteVerifier[]): Promise<VerifiedCheckpoint>;
  /** The tree of a verified checkpoint. */
  tree(c: Checkpoint): TiledTree;
  /** Revision `revision`'s leaf in the tree of `c`, authenticated; undefined when the log has no entry for it there. */
  findRevision(revision: number, c: Checkpoint): Promise<{ index: number; entry: LogEntry } | undefined>;
  /** As RepositoryLog.proveRevision (same codes), in O(log n) requests. */
  proveRevision(revision: number, digest: string, verifiers: readonly NoteVerifier[], trusted?: string): Promise<RevisionEvidence>;
  /** As RepositoryLog.checkExtends (TLOG_ROLLBACK, TLOG_FORK), from tiles. */
  checkExtends(trusted: Checkpoint, latest: Checkpoint): Promise<Uint8Array[]>;
}

export async function openTiledLog(backend: ContentBackend, opts: TiledLogOptions = {}): Promise<LogReader> {
  throw new TlogError('TLOG_NO_LOG', `${backend.description}${opts.origin ?? ''}: openTiledLog not built yet (branch t2-store)`);
}
