/**
 * Appending to a repository's log: only `gantry par push` does (appendToLog). The distribution
 * API has no compare-and-swap on tags, so an append claims index N with Fischer's timing-based
 * mutual exclusion: read that tlog.entry.N is free at t0, write it, and if the write finished
 * after t0 + Δ give up the claim (TLOG_APPEND_TIMEOUT); otherwise wait D > Δ and read the tag
 * again: still ours means every competitor that saw N free has written by now and lost, so N
 * is ours; someone else's means we lost and try N+1. The assumption: a tag write that a
 * registry has acknowledged within Δ of the read is visible to every later read, and no write
 * lands more than Δ after its writer's read. A registry slower than Δ makes pushes fail (never
 * lose entries silently: an overwritten entry shows as a root that no longer matches a signed
 * checkpoint). A checkpoint only covers settled entries (a tag seen present at t cannot change
 * after t + Δ): an append checkpoints the prefix up to its own confirmed entry
 * (checkpointing.ts).
 *
 * The timing lives here alone, so the mutation run can leave it out (registry-log.test.ts
 * proves it against a real registry).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContentBackend } from '../../registry/backend.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { encodeEntry, type LogEntry } from '../entry.js';
import { TlogError } from '../errors.js';
import type { NoteSigner } from '../note.js';
import { entryManifest } from './artifact.js';
import { checkpointedSize, checkpointFrom, entriesFrom, type LogWriterState, openForWriting } from './checkpointing.js';
import { defaultOrigin, entryTag } from './layout.js';
import { sameEntry, type VerifiedCheckpoint } from './read.js';
import { putArtifactBlobs } from './store.js';
import { refuseIfSequenced } from '../sequencer/lease.js';

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
  /**
   * The caller holds the repository's sequencer lease (tlog/sequencer/, the tlog.sequencer
   * tag): it is the only writer, so an index is claimed without the timing wait. Only the
   * sequencer sets this.
   */
  exclusive?: boolean;
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

/**
 * Claims one index for `entry` (Fischer, see the file comment) and returns it. Every tag read
 * goes to the registry; nothing is cached between attempts. An `exclusive` caller (the
 * sequencer, holding the lease) is the only writer: the first free index is its own at once.
 * Anyone else refuses with TLOG_SEQUENCED while a sequencer holds the log — looked at before
 * the claim, and again after the confirmation wait, because a sequencer that took the lease
 * meanwhile appends without waiting (it waited D after taking the lease, so a claim written
 * before that is visible to it; the refusal only tells this push where appends go now).
 */
async function claimIndex(
  backend: ContentBackend,
  entry: LogEntry,
  opts: Required<Pick<AppendOptions, 'deltaMs' | 'waitMs' | 'maxAttempts'>> & { exclusive?: boolean },
  /** the first index that may be free (the latest checkpoint's size plus the entries seen after it) */
  start: number,
): Promise<{ index: number; contended: number }> {
  const content = encodeEntry(entry);
  // blobs first, outside the timed window: they are content-addressed and never contended
  await putArtifactBlobs(backend, content);
  let contended = 0;
  let from = start;
  for (let attempt = 0; attempt < opts.maxAttempts; attempt++) {
    // probe upward from the first index that may be free: no tag listing (a large log has many)
    let index = from;
    let t0 = performance.now();
    while (await backend.getManifest(entryTag(index))) {
      index++;
      t0 = performance.now();
    }
    // inside the timed window: a lease not seen here is written after t0, so its holder starts
    // serving after t0 + D, when this claim's write (done by t0 + Δ) is visible to it
    if (!opts.exclusive) await refuseIfSequenced(backend);
    const manifest = entryManifest(index, content);
    const ours = await backend.putManifest(entryTag(index), manifest, OCI_MANIFEST);
    // the only writer (the sequencer): the index it read as free is its own, no wait
    if (opts.exclusive) return { index, contended };
    const took = performance.now() - t0;
    await sleep(opts.waitMs);
    await refuseIfSequenced(backend);
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
  // a log that cannot be extended is refused before anything is written (O(log n) for a tiled log)
  const state = await openForWriting(backend, opts.signer, opts.origin ?? defaultOrigin(backend));
  const checkpointed = checkpointedSize(state);
  const after = await entriesFrom(state, checkpointed);

  const pending: LogEntry[] = [];
  if (checkpointed + after.length === 0 && opts.backfill)
    pending.push(...(await opts.backfill()).filter((e) => e.revision !== entry.revision));
  pending.push(entry);
  let index = -1;
  let appended = false;
  let contended = 0;
  let free = checkpointed + after.length;
  for (const e of pending) {
    const existing = await loggedAs(state, after, e.revision);
    if (existing) {
      if (!sameEntry(existing.entry, e)) {
        throw new TlogError(
          'TLOG_DUPLICATE_REVISION',
          `${backend.description}: the log already records revision ${e.revision} as ${existing.entry.digest}, not ${e.digest}; a published revision never changes — push a higher revision`,
        );
      }
      if (e === entry) index = existing.index;
      continue;
    }
    const claimed = await claimIndex(backend, e, { ...timing, exclusive: opts.exclusive }, free);
    contended += claimed.contended;
    free = claimed.index + 1;
    if (e === entry) {
      index = claimed.index;
      appended = true;
    }
  }
  if (!appended && !opts.exclusive && checkpointed <= index) {
    // an entry found already stored (an earlier push that stopped before its checkpoint): it
    // and those before it were seen at the read above, and are settled Δ later
    await sleep(timing.deltaMs);
  }
  // the prefix up to our entry is settled: every entry before it was seen present when our
  // claim began, and the confirmation wait (D > Δ) has passed since
  const checkpoint = await checkpointFrom(state, opts.signer, index + 1);
  return { index, appended, checkpoint, contended };
}

/**
 * Where the log already holds `revision`: among the entries after the latest checkpoint, else in
 * its tree — through tlog.revision.<r> (checked against the tree) for a tiled log, the entries
 * read the old way for an untiled one.
 */
async function loggedAs(s: LogWriterState, after: LogEntry[], revision: number): Promise<{ index: number; entry: LogEntry } | undefined> {
  const base = checkpointedSize(s);
  if (s.old) {
    const i = s.old.indexOfRevision(revision);
    return i === undefined ? undefined : { index: i, entry: s.old.entries[i] };
  }
  if (s.latest && s.reader) {
    const found = await s.reader.findRevision(revision, s.latest.checkpoint);
    if (found) return found;
  }
  const i = after.findIndex((e) => e.revision === revision);
  return i < 0 ? undefined : { index: base + i, entry: after[i] };
}
