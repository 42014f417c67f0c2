/**
 * The checks verifyLog makes on a log's entries whichever way it was read (every entry tag, or
 * the entry bundles of a tiled log): entries against each other, their rev-N tags and archives,
 * and every rev-N tag against the entries.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { parseRevisionTag, revisionTag } from '../../registry/revision-tags.js';
import type { LogEntry } from '../entry.js';
import { isTlogError, type TlogErrorCode } from '../errors.js';
import { sameEntry } from './read.js';

export interface LogProblem {
  code: TlogErrorCode;
  message: string;
}

/** The archive reader verifyLog is given (see VerifyLogOptions.readArchive). */
export type ReadArchive = (
  digest: string,
) => Promise<{ revision: number; issuer: string; subject: string; capid?: string; version?: string }>;

export function problemOf(e: unknown): LogProblem {
  if (isTlogError(e)) return { code: e.code, message: e.message };
  throw e;
}

/** The first entry of each revision; a different later one is TLOG_DUPLICATE_REVISION. */
export function firstEntryByRevision(where: string, entries: readonly LogEntry[], problems: LogProblem[]): Map<number, LogEntry> {
  const byRevision = new Map<number, LogEntry>();
  for (const [i, e] of entries.entries()) {
    const seen = byRevision.get(e.revision);
    if (seen && !sameEntry(seen, e))
      problems.push({
        code: 'TLOG_DUPLICATE_REVISION',
        message: `${where}: entry ${i} records revision ${e.revision} as ${e.digest}, an earlier entry as ${seen.digest}`,
      });
    if (!seen) byRevision.set(e.revision, e);
  }
  return byRevision;
}

/** The entry's rev-N tag names its digest, and with readArchive the archive's claims match it. */
export async function checkRevisionTag(
  backend: ContentBackend,
  e: LogEntry,
  readArchive: ReadArchive | undefined,
): Promise<LogProblem | undefined> {
  const tag = revisionTag(e.revision);
  const m = await backend.getManifest(tag);
  if (!m) {
    return {
      code: 'TLOG_TAG_MISMATCH',
      message: `${backend.description}: the log records revision ${e.revision} (${e.digest}) but the tag ${tag} is gone`,
    };
  }
  if (m.digest !== e.digest) {
    return {
      code: 'TLOG_TAG_MISMATCH',
      message: `${backend.description}: ${tag} names ${m.digest}, the log records ${e.digest}; the tag was re-pointed`,
    };
  }
  if (!readArchive) return undefined;
  try {
    const claims = await readArchive(e.digest);
    const differs = (['revision', 'issuer', 'subject'] as const).filter((k) => claims[k] !== e[k]);
    if ((claims.capid ?? '') !== e.capid) differs.push('capid' as never);
    if ((claims.version ?? '') !== e.version) differs.push('version' as never);
    if (!differs.length) return undefined;
    return {
      code: 'TLOG_TAG_MISMATCH',
      message: `${backend.description}: the archive ${e.digest} (revision ${e.revision}) has other ${differs.join(', ')} than its log entry`,
    };
  } catch (err) {
    return {
      code: 'TLOG_TAG_MISMATCH',
      message: `${backend.description}: the archive ${e.digest} of revision ${e.revision} does not verify: ${(err as Error).message}`,
    };
  }
}

/** Every rev-N tag has an entry. */
export function unloggedRevisions(where: string, tags: readonly string[], byRevision: Map<number, LogEntry>): LogProblem[] {
  const problems: LogProblem[] = [];
  for (const t of tags) {
    const revision = parseRevisionTag(t);
    if (revision !== undefined && !byRevision.has(revision))
      problems.push({
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${where}: ${t} is published but has no log entry; re-push that archive to log it`,
      });
  }
  return problems;
}
