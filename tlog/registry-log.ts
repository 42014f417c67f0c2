/**
 * A repository's transparency log, stored in the same OCI repository as its archives, using
 * nothing but tags, manifests and blobs (so a plain distribution registry without the
 * referrers API holds it). docs/transparency.md has the byte-level description.
 *
 *   tlog.entry.<i>        leaf i (0-based): an OCI manifest, artifactType
 *                         application/vnd.gantry.log.entry.v1, whose one layer
 *                         (application/vnd.gantry.log.entry.v1+text) is the canonical entry
 *                         (tlog/entry.ts), also embedded as the descriptor's `data`
 *   tlog.checkpoint.<n>   the signed checkpoint of the tree of size n: artifactType
 *                         application/vnd.gantry.log.checkpoint.v1, one layer
 *                         (application/vnd.gantry.log.checkpoint.v1+note) holding the signed
 *                         note exactly as signed, also embedded as `data`
 *
 * The latest checkpoint is the one with the largest n. The log is appended only by
 * `gantry par push` (appendToLog below). The distribution API has no compare-and-swap on
 * tags, so an append claims index N with Fischer's timing-based mutual exclusion: read that
 * tlog.entry.N is free at t0, write it, and if the write finished after t0 + Δ give up the
 * claim (TLOG_APPEND_TIMEOUT); otherwise wait D > Δ and read the tag again: still ours means
 * every competitor that saw N free has written by now and lost, so N is ours; someone
 * else's means we lost and try N+1. The assumption: a tag write that a registry has
 * acknowledged within Δ of the read is visible to every later read, and no write lands more
 * than Δ after its writer's read. A registry slower than Δ makes pushes fail (never lose
 * entries silently: an overwritten entry shows as a root that no longer matches a signed
 * checkpoint). A checkpoint only covers settled entries (a tag seen present at t cannot change
 * after t + Δ): an append checkpoints the prefix up to its own confirmed entry. Checkpoints need
 * no mutual exclusion: the checkpoint of size n over the same entries, signed by the same
 * Ed25519 key, is the same bytes whoever writes it.
 *
 * Readers (the CLI, the controller, monitors) call openLog() and work on the snapshot it
 * returns; verifyLog() checks a snapshot against the archives, the tags and an earlier
 * checkpoint the caller already trusts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContentBackend } from '../registry/backend.js';
import { sha256Digest } from '../registry/digest.js';
import { OCI_MANIFEST } from '../registry/media-types.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { decodeEntry, encodeEntry, type LogEntry } from './entry.js';
import { isTlogError, TlogError, type TlogErrorCode } from './errors.js';
import { consistencyProof, hashesEqual, inclusionProof, leafHash, rootOf, rootsOf, verifyConsistency, verifyInclusion } from './merkle.js';
import { openNote, parseVerifierKey, signNote, type NoteSigner, type NoteVerifier } from './note.js';

export const LOG_ENTRY_ARTIFACT_TYPE = 'application/vnd.gantry.log.entry.v1';
export const LOG_ENTRY_MEDIA_TYPE = 'application/vnd.gantry.log.entry.v1+text';
export const LOG_CHECKPOINT_ARTIFACT_TYPE = 'application/vnd.gantry.log.checkpoint.v1';
export const LOG_CHECKPOINT_MEDIA_TYPE = 'application/vnd.gantry.log.checkpoint.v1+note';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
/** Annotation on an entry manifest naming its index (so an entry moved to another index is seen). */
export const LOG_INDEX_ANNOTATION = 'dev.gantry.log.index';

const EMPTY_CONFIG = new Uint8Array(Buffer.from('{}'));
const EMPTY_DIGEST = sha256Digest(EMPTY_CONFIG);
const ENTRY_TAG = /^tlog\.entry\.(0|[1-9][0-9]{0,15})$/;
const CHECKPOINT_TAG = /^tlog\.checkpoint\.(0|[1-9][0-9]{0,15})$/;
const REVISION_TAG = /^rev-(0|[1-9][0-9]{0,15})$/;
const MAX_LOG_BLOB_BYTES = 64 * 1024;
const READ_CONCURRENCY = 8;

export function entryTag(index: number): string {
  return `tlog.entry.${index}`;
}

export function checkpointTag(size: number): string {
  return `tlog.checkpoint.${size}`;
}

/** The default origin line of a repository's log: `<host>/<repository>` (the backend's description). */
export function defaultOrigin(backend: ContentBackend): string {
  return backend.description;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  data?: string;
  annotations?: Record<string, string>;
}

function manifestFor(artifactType: string, mediaType: string, content: Uint8Array, annotations?: Record<string, string>): Uint8Array {
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: EMPTY_CONFIG.length, data: encodeBase64(EMPTY_CONFIG) },
    layers: [{ mediaType, digest: sha256Digest(content), size: content.length, data: encodeBase64(content) }],
    ...(annotations ? { annotations } : {}),
  };
  return new Uint8Array(Buffer.from(JSON.stringify(manifest)));
}

/** The single layer's bytes of a log manifest, checked against its digest. */
async function layerContent(
  backend: ContentBackend,
  bytes: Uint8Array,
  artifactType: string,
  mediaType: string,
  where: string,
): Promise<{ content: Uint8Array; annotations: Record<string, string> }> {
  let m: { artifactType?: string; layers?: Descriptor[]; annotations?: Record<string, string> };
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new TlogError('TLOG_ENTRY_MALFORMED', `${where} is not a JSON manifest`);
  }
  const layer = m?.layers?.[0];
  // Stryker disable next-line EqualityOperator: a 0-byte entry or checkpoint is malformed either way
  if (
    m?.artifactType !== artifactType ||
    m.layers?.length !== 1 ||
    !layer ||
    layer.mediaType !== mediaType ||
    !Number.isSafeInteger(layer.size) ||
    layer.size < 0 ||
    layer.size > MAX_LOG_BLOB_BYTES
  ) {
    throw new TlogError(
      artifactType === LOG_ENTRY_ARTIFACT_TYPE ? 'TLOG_ENTRY_MALFORMED' : 'TLOG_CHECKPOINT_MALFORMED',
      `${where} is not a ${artifactType} manifest with one ${mediaType} layer`,
    );
  }
  let content: Uint8Array | null = typeof layer.data === 'string' ? decodeBase64(layer.data) : null;
  if (!content) content = await backend.getBlob(layer.digest, layer.size);
  if (sha256Digest(content) !== layer.digest || content.length !== layer.size) {
    throw new TlogError(
      artifactType === LOG_ENTRY_ARTIFACT_TYPE ? 'TLOG_ENTRY_MALFORMED' : 'TLOG_CHECKPOINT_MALFORMED',
      `${where}: the embedded content does not match the layer digest ${layer.digest}`,
    );
  }
  return { content, annotations: m.annotations ?? {} };
}

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

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  // Stryker disable next-line EqualityOperator: one more round maps an empty slice
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}

async function readEntry(backend: ContentBackend, index: number): Promise<LogEntry | undefined> {
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

// ---- appending ------------------------------------------------------------------------------

export interface AppendOptions {
  signer: NoteSigner;
  /** the log identity (default: the backend's `<host>/<repository>`) */
  origin?: string;
  /** Δ: the longest a claim write may take after the read that found the index free (default 1000 ms) */
  deltaMs?: number;
  /** D > Δ: how long to wait before confirming the claim (default 1.5 × Δ) */
  waitMs?: number;
  /** claims tried before TLOG_APPEND_CONTENDED (default 16) */
  maxAttempts?: number;
  /** entries of revisions pushed before the log existed, appended first when the log is empty */
  backfill?: () => Promise<LogEntry[]>;
}

export interface AppendResult {
  /** the entry's leaf index (an existing one when the same entry was already logged) */
  index: number;
  /** false when the entry was already in the log */
  appended: boolean;
  /** the checkpoint written (or found) covering it */
  checkpoint: VerifiedCheckpoint;
  /** claim attempts lost to concurrent pushes */
  contended: number;
}

function sameEntry(a: LogEntry, b: LogEntry): boolean {
  return Buffer.compare(Buffer.from(encodeEntry(a)), Buffer.from(encodeEntry(b))) === 0;
}

/** Writes one log artifact: its blobs, then its manifest under `tag`. */
async function putArtifact(backend: ContentBackend, tag: string, manifest: Uint8Array, content: Uint8Array): Promise<string> {
  await Promise.all([backend.putBlob(EMPTY_DIGEST, EMPTY_CONFIG), backend.putBlob(sha256Digest(content), content)]);
  return backend.putManifest(tag, manifest, OCI_MANIFEST);
}

/**
 * Stores a signed note under tlog.checkpoint.<size> as is, without any check: for copying a
 * log verbatim (a mirror) and for tests that play a lying registry. Pushes use appendToLog.
 */
export async function storeCheckpointNote(backend: ContentBackend, size: number, note: string): Promise<string> {
  const content = new Uint8Array(Buffer.from(note, 'utf8'));
  return putArtifact(backend, checkpointTag(size), manifestFor(LOG_CHECKPOINT_ARTIFACT_TYPE, LOG_CHECKPOINT_MEDIA_TYPE, content), content);
}

/** Stores `entry` under tlog.entry.<index> as is, without any check (mirrors, tests). */
export async function storeEntry(backend: ContentBackend, index: number, entry: LogEntry): Promise<string> {
  const content = encodeEntry(entry);
  return putArtifact(
    backend,
    entryTag(index),
    manifestFor(LOG_ENTRY_ARTIFACT_TYPE, LOG_ENTRY_MEDIA_TYPE, content, { [LOG_INDEX_ANNOTATION]: String(index) }),
    content,
  );
}

/**
 * Claims one index for `entry` (Fischer, see the file comment) and returns it. Every tag read
 * goes to the registry; nothing is cached between attempts.
 */
async function claimIndex(
  backend: ContentBackend,
  entry: LogEntry,
  opts: Required<Pick<AppendOptions, 'deltaMs' | 'waitMs' | 'maxAttempts'>>,
): Promise<{ index: number; contended: number }> {
  const content = encodeEntry(entry);
  // blobs first, outside the timed window: they are content-addressed and never contended
  await Promise.all([backend.putBlob(EMPTY_DIGEST, EMPTY_CONFIG), backend.putBlob(sha256Digest(content), content)]);
  let contended = 0;
  let from = 0;
  for (let attempt = 0; attempt < opts.maxAttempts; attempt++) {
    // the listing only suggests the first free index; the read that counts is the GET below
    const tags = new Set(await backend.listTags());
    let index = from;
    while (tags.has(entryTag(index))) index++;
    const t0 = performance.now();
    if (await backend.getManifest(entryTag(index))) {
      from = index + 1;
      contended++;
      continue;
    }
    const manifest = manifestFor(LOG_ENTRY_ARTIFACT_TYPE, LOG_ENTRY_MEDIA_TYPE, content, { [LOG_INDEX_ANNOTATION]: String(index) });
    const ours = await backend.putManifest(entryTag(index), manifest, OCI_MANIFEST);
    const took = performance.now() - t0;
    await sleep(opts.waitMs);
    const now = await backend.getManifest(entryTag(index));
    if (now?.digest !== ours) {
      from = index + 1;
      contended++;
      continue;
    }
    if (took > opts.deltaMs) {
      throw new TlogError(
        'TLOG_APPEND_TIMEOUT',
        `${backend.description}: writing log entry ${index} took ${Math.round(took)} ms, over the ${opts.deltaMs} ms bound the append relies on; the entry is stored but another push may have been overwritten — run \`gantry log verify\`, then push again (or raise --log-delta-ms for this registry)`,
      );
    }
    return { index, contended };
  }
  throw new TlogError(
    'TLOG_APPEND_CONTENDED',
    `${backend.description}: lost ${opts.maxAttempts} claims for a log index to concurrent pushes; push again`,
  );
}

/**
 * The latest checkpoint, verified with the signer's own key against the stored entries, or
 * undefined when the log has none. A log that is not this key's (TLOG_NOTE_UNVERIFIED) or
 * whose history changed (TLOG_ROOT_MISMATCH, …) is never extended.
 */
async function latestOwnCheckpoint(log: RepositoryLog, signer: NoteSigner): Promise<VerifiedCheckpoint | undefined> {
  const stored = await log.checkpointNote();
  if (!stored) return undefined;
  try {
    return log.checkStored(stored, [parseVerifierKey(signer.verifierKey)]);
  } catch (e) {
    if (isTlogError(e) && e.code === 'TLOG_NOTE_UNVERIFIED') {
      throw new TlogError(
        'TLOG_NOTE_UNVERIFIED',
        `${log.backend.description}: the log's checkpoint is not signed by ${signer.name}+${signer.keyHash}; this log belongs to another key — push with that key`,
      );
    }
    throw e;
  }
}

/**
 * Signs and stores the checkpoint of the first `size` stored entries (default: all of them),
 * unless a checkpoint at least that large exists, after checking that the latest checkpoint
 * verifies with the signer's key and that the entries still hash to it. Returns the checkpoint
 * written or found.
 *
 * `size` must only cover settled entries: a tag seen present at time t can still be
 * overwritten by a competing claim until t + Δ, never after. appendToLog passes the prefix up
 * to its own confirmed entry, which is settled once the claim is confirmed.
 */
export async function checkpointLog(
  backend: ContentBackend,
  opts: { signer: NoteSigner; origin?: string; size?: number },
): Promise<VerifiedCheckpoint> {
  const log = await openLog(backend, { origin: opts.origin });
  const latest = await latestOwnCheckpoint(log, opts.signer);
  const size = Math.min(opts.size ?? log.size, log.size);
  // Stryker disable next-line ConditionalExpression: undefined > n is false anyway
  if (opts.size !== undefined && opts.size > log.size) {
    throw new TlogError(
      'TLOG_ENTRY_MISSING',
      `${backend.description}: asked to checkpoint ${opts.size} entries, only ${log.size} are stored`,
    );
  }
  // Stryker disable next-line EqualityOperator: at equal sizes the same key signs the same bytes again
  if (latest && latest.checkpoint.size >= size) return latest;
  const checkpoint: Checkpoint = { origin: log.origin, size, root: log.rootAt(size), extensions: [] };
  const note = signNote(formatCheckpoint(checkpoint), [opts.signer]);
  await storeCheckpointNote(backend, size, note);
  return { note, checkpoint, signedBy: [`${opts.signer.name}+${opts.signer.keyHash}`] };
}

/**
 * Appends `entry` to the log (unless the same entry is already there) and writes a
 * checkpoint covering it. Refuses (TLOG_DUPLICATE_REVISION) when the log already holds a
 * different entry for the same revision. See the file comment for the concurrency rule.
 */
export async function appendToLog(backend: ContentBackend, entry: LogEntry, opts: AppendOptions): Promise<AppendResult> {
  const timing = {
    deltaMs: opts.deltaMs ?? 1000,
    waitMs: opts.waitMs ?? Math.round((opts.deltaMs ?? 1000) * 1.5),
    maxAttempts: opts.maxAttempts ?? 16,
  };
  if (!(timing.waitMs > timing.deltaMs))
    throw new TlogError(
      'TLOG_BAD_INDEX',
      `the confirmation wait (${timing.waitMs} ms) must be longer than the write bound Δ (${timing.deltaMs} ms)`,
    );
  encodeEntry(entry); // refuse a bad entry before touching the registry
  const log = await openLog(backend, { origin: opts.origin });
  // a log that cannot be extended is refused before anything is written
  await latestOwnCheckpoint(log, opts.signer);

  const pending: LogEntry[] = [];
  if (log.size === 0 && opts.backfill) pending.push(...(await opts.backfill()).filter((e) => e.revision !== entry.revision));
  pending.push(entry);
  let index = -1;
  let appended = false;
  let contended = 0;
  for (const e of pending) {
    const existing = log.entries.findIndex((x) => x.revision === e.revision);
    if (existing >= 0) {
      if (!sameEntry(log.entries[existing], e)) {
        throw new TlogError(
          'TLOG_DUPLICATE_REVISION',
          `${backend.description}: the log already records revision ${e.revision} as ${log.entries[existing].digest}, not ${e.digest}; a published revision never changes — push a higher revision`,
        );
      }
      if (e === entry) index = existing;
      continue;
    }
    const claimed = await claimIndex(backend, e, timing);
    contended += claimed.contended;
    if (e === entry) {
      index = claimed.index;
      appended = true;
    }
  }
  if (!appended && (log.latestCheckpointSize ?? 0) <= index) {
    // an entry found already stored (an earlier push that stopped before its checkpoint): it
    // and those before it were seen at the read above, and are settled Δ later
    await sleep(timing.deltaMs);
  }
  // the prefix up to our entry is settled: every entry before it was seen present when our
  // claim began, and the confirmation wait (D > Δ) has passed since
  const checkpoint = await checkpointLog(backend, { signer: opts.signer, origin: opts.origin, size: index + 1 });
  return { index, appended, checkpoint, contended };
}

// ---- verifying ------------------------------------------------------------------------------

export interface LogProblem {
  code: TlogErrorCode;
  message: string;
}

export interface LogVerification {
  ok: boolean;
  origin: string;
  /** stored entries (contiguous from 0) */
  size: number;
  /** the latest checkpoint, when it verified */
  checkpoint?: VerifiedCheckpoint;
  /** entries not yet covered by the latest checkpoint (an interrupted push; not a failure) */
  uncheckpointed: number;
  /** the consistency proof from the trusted checkpoint to the latest, when one was given and held */
  consistencyProof?: Uint8Array[];
  problems: LogProblem[];
}

export interface VerifyLogOptions {
  verifiers: readonly NoteVerifier[];
  /** a signed checkpoint note the caller already trusts (from an earlier verify) */
  trusted?: string;
  origin?: string;
  /**
   * Reads the archive a log entry names (the manifest digest) and returns its verified
   * claims; verifyLog compares them with the entry. Omitted: only digests are compared.
   */
  readArchive?: (digest: string) => Promise<{ revision: number; issuer: string; subject: string; capid?: string; version?: string }>;
}

function problemOf(e: unknown): LogProblem {
  if (isTlogError(e)) return { code: e.code, message: e.message };
  throw e;
}

/**
 * Checks a repository's log end to end, collecting every problem (each with its own code):
 * every checkpoint tag (signature, origin, size, root against the entries); every entry
 * (canonical, no two different entries for one revision, its rev-N tag names its digest, and
 * with readArchive the archive's signed claims match it); every rev-N tag has an entry;
 * no entry tag after a gap; and the log extends `trusted` (no rollback, no fork).
 */
export async function verifyLog(backend: ContentBackend, opts: VerifyLogOptions): Promise<LogVerification> {
  const problems: LogProblem[] = [];
  let log: RepositoryLog;
  try {
    log = await openLog(backend, { origin: opts.origin });
  } catch (e) {
    return { ok: false, origin: opts.origin ?? defaultOrigin(backend), size: 0, uncheckpointed: 0, problems: [problemOf(e)] };
  }
  const result: LogVerification = { ok: false, origin: log.origin, size: log.size, uncheckpointed: 0, problems };
  if (log.size === 0 && log.checkpointSizes.length === 0) {
    problems.push({
      code: 'TLOG_NO_LOG',
      message: `${backend.description} has no transparency log (no tlog.* tags); push with --log-key to start one`,
    });
    return result;
  }
  if (log.strayEntryIndices.length) {
    problems.push({
      code: 'TLOG_ENTRY_MISSING',
      message: `${backend.description}: tlog.entry.${log.size} is missing but entries ${log.strayEntryIndices.join(', ')} exist: an entry was deleted`,
    });
  }

  // every checkpoint, oldest first; the latest that verifies is the log's state
  for (const size of log.checkpointSizes) {
    try {
      const stored = await log.checkpointNote(size);
      if (!stored) throw new TlogError('TLOG_ENTRY_MISSING', `${backend.description}: ${checkpointTag(size)} vanished while being read`);
      const v = log.checkStored(stored, opts.verifiers);
      if (size === log.latestCheckpointSize) result.checkpoint = v;
    } catch (e) {
      const p = problemOf(e);
      problems.push({ code: p.code, message: `${checkpointTag(size)}: ${p.message}` });
    }
  }
  if (log.checkpointSizes.length === 0)
    problems.push({ code: 'TLOG_NO_LOG', message: `${backend.description} has log entries but no checkpoint; push again to write one` });
  if (result.checkpoint) result.uncheckpointed = log.size - result.checkpoint.checkpoint.size;

  // entries against each other, the tags and the archives
  const byRevision = new Map<number, LogEntry>();
  for (const [i, e] of log.entries.entries()) {
    const seen = byRevision.get(e.revision);
    if (seen && !sameEntry(seen, e))
      problems.push({
        code: 'TLOG_DUPLICATE_REVISION',
        message: `${backend.description}: entry ${i} records revision ${e.revision} as ${e.digest}, an earlier entry as ${seen.digest}`,
      });
    if (!seen) byRevision.set(e.revision, e);
  }
  await mapLimited([...byRevision.values()], READ_CONCURRENCY, async (e) => {
    const tag = `rev-${e.revision}`;
    const m = await backend.getManifest(tag);
    if (!m) {
      problems.push({
        code: 'TLOG_TAG_MISMATCH',
        message: `${backend.description}: the log records revision ${e.revision} (${e.digest}) but the tag ${tag} is gone`,
      });
      return;
    }
    if (m.digest !== e.digest) {
      problems.push({
        code: 'TLOG_TAG_MISMATCH',
        message: `${backend.description}: ${tag} names ${m.digest}, the log records ${e.digest}; the tag was re-pointed`,
      });
      return;
    }
    if (!opts.readArchive) return;
    try {
      const claims = await opts.readArchive(e.digest);
      const differs = (['revision', 'issuer', 'subject'] as const).filter((k) => claims[k] !== e[k]);
      if ((claims.capid ?? '') !== e.capid) differs.push('capid' as never);
      if ((claims.version ?? '') !== e.version) differs.push('version' as never);
      if (differs.length)
        problems.push({
          code: 'TLOG_TAG_MISMATCH',
          message: `${backend.description}: the archive ${e.digest} (revision ${e.revision}) has other ${differs.join(', ')} than its log entry`,
        });
    } catch (err) {
      problems.push({
        code: 'TLOG_TAG_MISMATCH',
        message: `${backend.description}: the archive ${e.digest} of revision ${e.revision} does not verify: ${(err as Error).message}`,
      });
    }
  });
  for (const t of log.tags) {
    const m = REVISION_TAG.exec(t);
    if (m && !byRevision.has(Number(m[1])))
      problems.push({
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${backend.description}: ${t} is published but has no log entry; re-push that archive to log it`,
      });
  }

  // the caller's memory: the log must extend what they trusted before
  if (opts.trusted !== undefined) {
    try {
      const trusted = verifyCheckpointNote(opts.trusted, opts.verifiers, log.origin);
      if (!result.checkpoint)
        throw new TlogError(
          'TLOG_ROLLBACK',
          `${backend.description}: no verifiable checkpoint to compare with the trusted one of size ${trusted.checkpoint.size}`,
        );
      result.consistencyProof = log.checkExtends(trusted.checkpoint, result.checkpoint.checkpoint);
    } catch (e) {
      const p = problemOf(e);
      problems.push({ code: p.code, message: `against the trusted checkpoint: ${p.message}` });
    }
  }
  problems.sort((a, b) => a.code.localeCompare(b.code) || a.message.localeCompare(b.message));
  result.ok = problems.length === 0;
  return result;
}
