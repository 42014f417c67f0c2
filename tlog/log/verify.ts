/**
 * Checking a repository's log end to end (`gantry log verify`, monitors, mirrors): every
 * problem is collected with its own code rather than stopping at the first, against the
 * archives, the tags and an earlier checkpoint the caller already trusts.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { TlogError } from '../errors.js';
import type { NoteVerifier } from '../note.js';
import { checkpointTag, defaultOrigin } from './layout.js';
import { mapLimited, openLog, READ_CONCURRENCY, type RepositoryLog, verifyCheckpointNote, type VerifiedCheckpoint } from './read.js';
import {
  checkRevisionTag,
  firstEntryByRevision,
  type LogProblem,
  problemOf,
  type ReadArchive,
  unloggedRevisions,
} from './verify-checks.js';
import { isTiledLog, verifyTiledLog } from './verify-tiles.js';

export type { LogProblem } from './verify-checks.js';

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
  readArchive?: ReadArchive;
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
    // a tiled log is checked from its bundles (256 entries a request) against the signed root
    const tags = await backend.listTags();
    if (isTiledLog(tags)) return await verifyTiledLog(backend, tags, opts);
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
  const latest = await checkCheckpoints(log, opts.verifiers, problems);
  if (latest) {
    result.checkpoint = latest;
    result.uncheckpointed = log.size - latest.checkpoint.size;
  }
  // entries against each other, the tags and the archives
  const byRevision = firstEntryByRevision(backend.description, log.entries, problems);
  const tagged = await mapLimited([...byRevision.values()], READ_CONCURRENCY, (e) => checkRevisionTag(backend, e, opts.readArchive));
  for (const p of tagged) if (p) problems.push(p);
  problems.push(...unloggedRevisions(backend.description, log.tags, byRevision));
  if (opts.trusted !== undefined) checkExtendsTrusted(log, opts.trusted, opts.verifiers, result);
  problems.sort((a, b) => a.code.localeCompare(b.code) || a.message.localeCompare(b.message));
  result.ok = problems.length === 0;
  return result;
}

/** Every checkpoint tag, oldest first; returns the latest when it verifies (the log's state). */
async function checkCheckpoints(
  log: RepositoryLog,
  verifiers: readonly NoteVerifier[],
  problems: LogProblem[],
): Promise<VerifiedCheckpoint | undefined> {
  const where = log.backend.description;
  let latest: VerifiedCheckpoint | undefined;
  for (const size of log.checkpointSizes) {
    try {
      const stored = await log.checkpointNote(size);
      if (!stored) throw new TlogError('TLOG_ENTRY_MISSING', `${where}: ${checkpointTag(size)} vanished while being read`);
      const v = log.checkStored(stored, verifiers);
      if (size === log.latestCheckpointSize) latest = v;
    } catch (e) {
      const p = problemOf(e);
      problems.push({ code: p.code, message: `${checkpointTag(size)}: ${p.message}` });
    }
  }
  if (log.checkpointSizes.length === 0)
    problems.push({ code: 'TLOG_NO_LOG', message: `${where} has log entries but no checkpoint; push again to write one` });
  return latest;
}

/** The caller's memory: the log must extend the checkpoint they trusted before (sets result.consistencyProof). */
function checkExtendsTrusted(log: RepositoryLog, trustedNote: string, verifiers: readonly NoteVerifier[], result: LogVerification): void {
  try {
    const trusted = verifyCheckpointNote(trustedNote, verifiers, log.origin);
    if (!result.checkpoint)
      throw new TlogError(
        'TLOG_ROLLBACK',
        `${log.backend.description}: no verifiable checkpoint to compare with the trusted one of size ${trusted.checkpoint.size}`,
      );
    result.consistencyProof = log.checkExtends(trusted.checkpoint, result.checkpoint.checkpoint);
  } catch (e) {
    const p = problemOf(e);
    result.problems.push({ code: p.code, message: `against the trusted checkpoint: ${p.message}` });
  }
}
