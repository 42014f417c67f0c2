/**
 * Reading a repository's log: openLog() takes a snapshot (the entries, contiguous from index 0,
 * and the checkpoint tags, as read at one moment) and RepositoryLog computes and checks on it —
 * checkpoints against the stored entries, inclusion of a revision, consistency with a
 * checkpoint the caller already trusts. Readers (the CLI, the controller, monitors) work on
 * the snapshot; verify.ts checks a whole log with it.
 */
import { checkSignersForOrigin } from '../origin-keys.js';
import type { ContentBackend } from '../../registry/backend.js';
import { encodeBase64 } from '../base64.js';
import { parseCheckpoint, type Checkpoint } from '../checkpoint.js';
import { decodeEntry, encodeEntry, type LogEntry } from '../entry.js';
import { isTlogError, TlogError } from '../errors.js';
import { consistencyProof, hashesEqual, inclusionProof, leafHash, rootOf, rootsOf, verifyConsistency, verifyInclusion } from '../merkle.js';
import { openNote, type NoteVerifier } from '../note.js';
import { layerContent } from './artifact.js';
import {
  CHECKPOINT_TAG,
  checkpointTag,
  defaultOrigin,
  ENTRY_TAG,
  entryTag,
  LOG_CHECKPOINT_ARTIFACT_TYPE,
  LOG_CHECKPOINT_MEDIA_TYPE,
  LOG_ENTRY_ARTIFACT_TYPE,
  LOG_ENTRY_MEDIA_TYPE,
  LOG_INDEX_ANNOTATION,
} from './layout.js';

/** Manifest GETs in flight at once while reading a log. */
export const READ_CONCURRENCY = 8;

/** A checkpoint as stored under its tag: the note exactly as the registry serves it. */
export interface StoredCheckpoint {
  tag: string;
  /** the n of tlog.checkpoint.<n> */
  tagSize: number;
  /** the signed note, byte for byte as stored (UTF-8) */
  note: string;
}

/** A checkpoint whose signature, origin and (where asked) root have been checked. */
export interface VerifiedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  /** `name+keyhash` of the trusted keys whose signatures verified */
  signedBy: string[];
}

export interface InclusionResult {
  revision: number;
  index: number;
  treeSize: number;
  leafHash: Uint8Array;
  proof: Uint8Array[];
  root: Uint8Array;
  entry: LogEntry;
}

/** What proveRevision returns: a verified checkpoint, the revision's inclusion in it, and its consistency with the trusted one. */
export interface RevisionEvidence {
  checkpoint: VerifiedCheckpoint;
  inclusion: InclusionResult;
  /** the consistency proof from the trusted checkpoint (undefined when none was given) */
  consistency?: Uint8Array[];
}

/**
 * Opens `note` with `verifiers` and parses it as a checkpoint of `origin`. Throws the note's
 * codes (TLOG_NOTE_*), TLOG_CHECKPOINT_MALFORMED or TLOG_ORIGIN_MISMATCH.
 */
export function verifyCheckpointNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[], origin: string): VerifiedCheckpoint {
  const opened = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(opened.text);
  if (checkpoint.origin !== origin) {
    throw new TlogError(
      'TLOG_ORIGIN_MISMATCH',
      `the checkpoint is for the log "${checkpoint.origin}", not "${origin}"; it was copied from another log or the origin was given wrongly`,
    );
  }
  checkSignersForOrigin(opened.verified, verifiers, origin);
  // Stryker disable next-line ConditionalExpression,StringLiteral: a string goes through Buffer unchanged
  return {
    note: typeof note === 'string' ? note : Buffer.from(note).toString('utf8'),
    checkpoint,
    signedBy: opened.verified.map((s) => `${s.name}+${s.keyHash}`),
  };
}

/**
 * A snapshot of one repository's log: the entries (contiguous from index 0) and the
 * checkpoint tags, as read at one moment. Methods compute and check; only checkpointNote()
 * goes back to the registry.
 */
export class RepositoryLog {
  readonly leafHashes: Uint8Array[];

  private roots?: Map<number, Uint8Array>;

  constructor(
    readonly backend: ContentBackend,
    readonly origin: string,
    readonly entries: LogEntry[],
    /** sizes n with a tlog.checkpoint.<n> tag, ascending */
    readonly checkpointSizes: number[],
    /** indices of entry tags after the first missing one (a gap: something was deleted) */
    readonly strayEntryIndices: number[],
    /** every tag of the repository at the time of reading */
    readonly tags: string[],
  ) {
    this.leafHashes = entries.map((e) => leafHash(encodeEntry(e)));
  }

  /** The root of the first `size` entries (all checkpoint sizes are computed in one pass). */
  rootAt(size: number): Uint8Array {
    // Stryker disable next-line all: only a faster way to the same roots; a size not precomputed falls back to rootOf
    if (!this.roots) this.roots = rootsOf(this.leafHashes, [...this.checkpointSizes.filter((n) => n <= this.size), this.size]);
    return this.roots.get(size) ?? rootOf(this.leafHashes, size);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The size of the latest checkpoint tag, or undefined when there is none. */
  get latestCheckpointSize(): number | undefined {
    return this.checkpointSizes.at(-1);
  }

  /** The stored note of tlog.checkpoint.<size> (default: the latest); undefined if absent. */
  async checkpointNote(size: number | undefined = this.latestCheckpointSize): Promise<StoredCheckpoint | undefined> {
    // Stryker disable next-line ConditionalExpression: tlog.checkpoint.undefined is absent too
    if (size === undefined) return undefined;
    const tag = checkpointTag(size);
    const m = await this.backend.getManifest(tag);
    if (!m) return undefined;
    const { content } = await layerContent(
      this.backend,
      m.bytes,
      LOG_CHECKPOINT_ARTIFACT_TYPE,
      LOG_CHECKPOINT_MEDIA_TYPE,
      `${this.backend.description}:${tag}`,
    );
    return { tag, tagSize: size, note: Buffer.from(content).toString('utf8') };
  }

  /**
   * The latest checkpoint, verified: signature by a trusted key, origin, the size its tag
   * names, and the root against the stored entries. Throws TLOG_NO_LOG, TLOG_NOTE_*,
   * TLOG_CHECKPOINT_MALFORMED, TLOG_ORIGIN_MISMATCH, TLOG_ROLLBACK (a tag serving an older
   * checkpoint), TLOG_ENTRY_MISSING or TLOG_ROOT_MISMATCH.
   */
  async latestCheckpoint(verifiers: readonly NoteVerifier[]): Promise<VerifiedCheckpoint> {
    const stored = await this.checkpointNote();
    if (!stored)
      throw new TlogError(
        'TLOG_NO_LOG',
        `${this.backend.description} has no transparency log (no tlog.checkpoint.<n> tag); push with --log-key to start one`,
      );
    return this.checkStored(stored, verifiers);
  }

  /** Verifies one stored checkpoint as latestCheckpoint() does. */
  checkStored(stored: StoredCheckpoint, verifiers: readonly NoteVerifier[]): VerifiedCheckpoint {
    const v = verifyCheckpointNote(stored.note, verifiers, this.origin);
    const size = v.checkpoint.size;
    if (size !== stored.tagSize) {
      // Stryker disable next-line EqualityOperator: the sizes differ here
      const older = size < stored.tagSize;
      throw new TlogError(
        older ? 'TLOG_ROLLBACK' : 'TLOG_CHECKPOINT_MALFORMED',
        `${this.backend.description}:${stored.tag} serves the checkpoint of size ${size}${older ? ': an older checkpoint put back under a newer tag' : ''}`,
      );
    }
    this.checkRoot(v.checkpoint);
    return v;
  }

  /** The stored entries hash to the checkpoint's root (TLOG_ENTRY_MISSING, TLOG_ROOT_MISMATCH). */
  checkRoot(c: Checkpoint): void {
    if (c.size > this.size) {
      throw new TlogError(
        'TLOG_ENTRY_MISSING',
        `${this.backend.description}: the checkpoint covers ${c.size} entries but only ${this.size} are stored (tlog.entry.${this.size} is missing)`,
      );
    }
    if (!hashesEqual(this.rootAt(c.size), c.root)) {
      throw new TlogError(
        'TLOG_ROOT_MISMATCH',
        `${this.backend.description}: the stored entries 0..${c.size - 1} do not hash to the signed root of size ${c.size}: entries were rewritten or replaced after they were checkpointed`,
      );
    }
  }

  /** The index of the entry for `revision` (the first, when logged twice), or undefined. */
  indexOfRevision(revision: number): number | undefined {
    const i = this.entries.findIndex((e) => e.revision === revision);
    return i < 0 ? undefined : i;
  }

  /**
   * The inclusion proof of `revision`'s entry in the tree of `treeSize` (default: the whole
   * stored log). Throws TLOG_UNLOGGED_REVISION, TLOG_BAD_INDEX (the entry is not in that tree).
   */
  inclusion(revision: number, treeSize: number = this.size): InclusionResult {
    const index = this.indexOfRevision(revision);
    if (index === undefined)
      throw new TlogError('TLOG_UNLOGGED_REVISION', `${this.backend.description}: revision ${revision} has no entry in the log`);
    if (index >= treeSize)
      throw new TlogError(
        'TLOG_BAD_INDEX',
        `${this.backend.description}: revision ${revision} is entry ${index}, not in the tree of size ${treeSize} (not checkpointed yet)`,
      );
    const proof = inclusionProof(this.leafHashes, index, treeSize);
    const root = rootOf(this.leafHashes, treeSize);
    verifyInclusion(this.leafHashes[index], index, treeSize, proof, root);
    return { revision, index, treeSize, leafHash: this.leafHashes[index], proof, root, entry: this.entries[index] };
  }

  /** The consistency proof from `from` to `to` (default: the stored log). */
  consistency(
    from: number,
    to: number = this.size,
  ): { from: number; to: number; proof: Uint8Array[]; fromRoot: Uint8Array; toRoot: Uint8Array } {
    const proof = consistencyProof(this.leafHashes, from, to);
    const fromRoot = rootOf(this.leafHashes, from);
    const toRoot = rootOf(this.leafHashes, to);
    verifyConsistency(from, to, proof, fromRoot, toRoot);
    return { from, to, proof, fromRoot, toRoot };
  }

  /**
   * Everything a client needs before using `revision` as `digest` (what the controller checks
   * on resolve): the latest checkpoint verifies (TLOG_NO_LOG, TLOG_NOTE_*, TLOG_ROOT_MISMATCH,
   * …); the revision's entry is in it (TLOG_UNLOGGED_REVISION — also while a push is still
   * appending it); the entry names `digest` (TLOG_TAG_MISMATCH); and the checkpoint extends
   * `trusted`, the last one the caller recorded (TLOG_ROLLBACK, TLOG_FORK). Returns the
   * evidence: the checkpoint (to record as the new `trusted`), the inclusion proof, and the
   * consistency proof from `trusted`.
   */
  async proveRevision(revision: number, digest: string, verifiers: readonly NoteVerifier[], trusted?: string): Promise<RevisionEvidence> {
    const checkpoint = await this.latestCheckpoint(verifiers);
    const index = this.indexOfRevision(revision);
    if (index === undefined || index >= checkpoint.checkpoint.size) {
      throw new TlogError(
        'TLOG_UNLOGGED_REVISION',
        `${this.backend.description}: revision ${revision} is not in the log's latest checkpoint (size ${checkpoint.checkpoint.size})`,
      );
    }
    const inclusion = this.inclusion(revision, checkpoint.checkpoint.size);
    verifyInclusion(inclusion.leafHash, inclusion.index, inclusion.treeSize, inclusion.proof, checkpoint.checkpoint.root);
    if (inclusion.entry.digest !== digest) {
      throw new TlogError(
        'TLOG_TAG_MISMATCH',
        `${this.backend.description}: revision ${revision} resolves to ${digest}, the log records ${inclusion.entry.digest}; the tag was re-pointed`,
      );
    }
    let consistency: Uint8Array[] | undefined;
    if (trusted !== undefined)
      consistency = this.checkExtends(verifyCheckpointNote(trusted, verifiers, this.origin).checkpoint, checkpoint.checkpoint);
    return { checkpoint, inclusion, consistency };
  }

  /**
   * Checks that `latest` extends `trusted` (both verified checkpoints of this log): a smaller
   * tree is TLOG_ROLLBACK, a tree whose first trusted.size leaves hash to another root is
   * TLOG_FORK. Returns the consistency proof (empty when the sizes are equal).
   */
  checkExtends(trusted: Checkpoint, latest: Checkpoint): Uint8Array[] {
    if (latest.size < trusted.size) {
      throw new TlogError(
        'TLOG_ROLLBACK',
        `${this.backend.description}: the log's latest checkpoint has ${latest.size} entries, fewer than the ${trusted.size} of a checkpoint already trusted; the registry rolled the log back`,
      );
    }
    if (trusted.size === 0) return [];
    const mine = this.rootAt(trusted.size);
    if (!hashesEqual(mine, trusted.root)) {
      throw new TlogError(
        'TLOG_FORK',
        `${this.backend.description}: the first ${trusted.size} entries of this log hash to ${encodeBase64(mine)}, the trusted checkpoint says ${encodeBase64(trusted.root)}; the history was rewritten (a fork)`,
      );
    }
    // Stryker disable next-line ConditionalExpression: the proof between equal sizes is empty and verifies; this only skips computing it
    if (trusted.size === latest.size) return [];
    const proof = consistencyProof(this.leafHashes, trusted.size, latest.size);
    try {
      verifyConsistency(trusted.size, latest.size, proof, trusted.root, latest.root);
    } catch (e) {
      throw new TlogError(
        'TLOG_FORK',
        `${this.backend.description}: no consistency proof links the trusted checkpoint of size ${trusted.size} to the latest of size ${latest.size}`,
        { cause: e },
      );
    }
    return proof;
  }
}

/** Two entries are the same when their canonical encodings are. */
export function sameEntry(a: LogEntry, b: LogEntry): boolean {
  return Buffer.compare(Buffer.from(encodeEntry(a)), Buffer.from(encodeEntry(b))) === 0;
}

export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  // Stryker disable next-line EqualityOperator: one more round maps an empty slice
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}

/** Entry tag `index` read and checked (its index annotation, its canonical encoding); undefined when absent. */
export async function readEntry(backend: ContentBackend, index: number): Promise<LogEntry | undefined> {
  const tag = entryTag(index);
  const m = await backend.getManifest(tag);
  if (!m) return undefined;
  const where = `${backend.description}:${tag}`;
  const { content, annotations } = await layerContent(backend, m.bytes, LOG_ENTRY_ARTIFACT_TYPE, LOG_ENTRY_MEDIA_TYPE, where);
  if (annotations[LOG_INDEX_ANNOTATION] !== String(index)) {
    throw new TlogError(
      'TLOG_ENTRY_MALFORMED',
      `${where} holds the entry written for index ${annotations[LOG_INDEX_ANNOTATION] ?? '(none)'}: an entry was moved`,
    );
  }
  try {
    return decodeEntry(content);
  } catch (e) {
    // Stryker disable next-line ConditionalExpression: decodeEntry throws only TlogErrors
    if (isTlogError(e)) throw new TlogError(e.code, `${where}: ${e.message}`);
    throw e;
  }
}

/**
 * Reads the log of the repository behind `backend` (one tag listing, one manifest GET per
 * entry; entry bytes are embedded in their manifests). `origin` is the log identity the
 * checkpoints must name (default: the backend's `<host>/<repository>`; a mirror passes the
 * origin's). Throws TLOG_ENTRY_MALFORMED for an entry that is not canonical.
 */
export async function openLog(backend: ContentBackend, opts: { origin?: string } = {}): Promise<RepositoryLog> {
  const tags = await backend.listTags();
  const entryIndices = new Set<number>();
  const sizes: number[] = [];
  for (const t of tags) {
    const e = ENTRY_TAG.exec(t);
    if (e) entryIndices.add(Number(e[1]));
    const c = CHECKPOINT_TAG.exec(t);
    if (c) sizes.push(Number(c[1]));
  }
  let n = 0;
  while (entryIndices.has(n)) n++;
  // Stryker disable next-line EqualityOperator: n itself is missing by definition
  const stray = [...entryIndices].filter((i) => i > n).sort((a, b) => a - b);
  const read = await mapLimited(
    Array.from({ length: n }, (_, i) => i),
    READ_CONCURRENCY,
    (i) => readEntry(backend, i),
  );
  const firstGone = read.indexOf(undefined);
  const entries = (firstGone < 0 ? read : read.slice(0, firstGone)) as LogEntry[];
  return new RepositoryLog(
    backend,
    opts.origin ?? defaultOrigin(backend),
    entries,
    sizes.sort((a, b) => a - b),
    stray,
    tags,
  );
}
