/**
 * verifyLog on a tiled log (docs/transparency.md "Tiles"): the entries are read from the entry
 * bundles (256 a request), each authenticated against the latest signed root; every
 * tlog.checkpoint.<n> is checked against the root the tree gives for n; where entry tags also
 * exist (appends claim indices with them) each must be its bundle's entry, and every
 * tlog.revision.<r> pointer must name revision r's leaf. Problems keep verifyLog's codes.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { encodeBase64 } from '../base64.js';
import type { Checkpoint } from '../checkpoint.js';
import { decodeEntry, type LogEntry } from '../entry.js';
import { isTlogError, TlogError } from '../errors.js';
import { hashesEqual } from '../merkle.js';
import type { NoteVerifier } from '../note.js';
import type { TiledTree } from '../tiles/index.js';
import { layerContent } from './artifact.js';
import {
  CHECKPOINT_TAG,
  checkpointTag,
  ENTRY_TAG,
  LATEST_CHECKPOINT_TAG,
  LOG_ENTRY_ARTIFACT_TYPE,
  LOG_ENTRY_MEDIA_TYPE,
  LOG_INDEX_ANNOTATION,
  REVISION_TAG,
  revisionTag,
} from './layout.js';
import { mapLimited, READ_CONCURRENCY, readEntry, sameEntry, verifyCheckpointNote, type VerifiedCheckpoint } from './read.js';
import { type LogReader, openTiledLog, storedNote } from './tiled.js';
import type { LogVerification, VerifyLogOptions } from './verify.js';
import { checkRevisionTag, firstEntryByRevision, type LogProblem, problemOf, unloggedRevisions } from './verify-checks.js';

/** A log is read through its tiles once it has its latest-checkpoint tag (as openTiledLog decides). */
export function isTiledLog(tags: readonly string[]): boolean {
  return tags.includes(LATEST_CHECKPOINT_TAG);
}

const numbered = (tags: readonly string[], re: RegExp): number[] =>
  tags
    .map((t) => re.exec(t))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);

export async function verifyTiledLog(backend: ContentBackend, tags: readonly string[], opts: VerifyLogOptions): Promise<LogVerification> {
  const where = backend.description;
  const problems: LogProblem[] = [];
  const reader = await openTiledLog(backend, { origin: opts.origin });
  // entry tags first, as the untiled log reads them: one that cannot be read stops the check (verifyLog reports it alone)
  const listed = numbered(tags, ENTRY_TAG);
  const tagged = await contiguousEntries(backend, new Set(listed), 0);
  const result: LogVerification = { ok: false, origin: reader.origin, size: 0, uncheckpointed: 0, problems };
  let latest: VerifiedCheckpoint | undefined;
  let latestProblem: LogProblem | undefined;
  try {
    latest = await reader.latestCheckpoint(opts.verifiers);
  } catch (e) {
    const p = problemOf(e);
    latestProblem = { code: p.code, message: `${LATEST_CHECKPOINT_TAG}: ${p.message}` };
  }
  const tree = latest ? reader.tree(latest.checkpoint) : undefined;
  await checkCheckpointTags(backend, reader.origin, tags, opts.verifiers, latest?.checkpoint, tree, problems);
  // the latest checkpoint failing for the reason one of its tags fails is one finding
  if (latestProblem && !problems.some((p) => p.code === latestProblem.code)) problems.push(latestProblem);
  const entries = tree ? await bundleEntries(tree, where, problems) : [];
  const checkpointed = entries.length;
  entries.push(...(await entryTagsAgainst(backend, listed, tagged, entries, problems)));
  result.size = entries.length;
  if (latest && checkpointed === latest.checkpoint.size) {
    result.checkpoint = latest;
    result.uncheckpointed = entries.length - checkpointed;
  }
  problems.push(...(await revisionPointers(backend, tags, entries)), ...missingPointers(where, tags, entries.slice(0, checkpointed)));
  const byRevision = firstEntryByRevision(where, entries, problems);
  const revTagged = await mapLimited([...byRevision.values()], READ_CONCURRENCY, (e) => checkRevisionTag(backend, e, opts.readArchive));
  for (const p of revTagged) if (p) problems.push(p);
  problems.push(...unloggedRevisions(where, tags, byRevision));
  if (opts.trusted !== undefined) await checkExtendsTrusted(reader, opts.trusted, opts.verifiers, result);
  problems.sort((a, b) => a.code.localeCompare(b.code) || a.message.localeCompare(b.message));
  result.ok = problems.length === 0;
  return result;
}

/** The leaves of the latest checkpoint from its bundles, each authenticated; a failure is one problem and no entries. */
async function bundleEntries(tree: TiledTree, where: string, problems: LogProblem[]): Promise<LogEntry[]> {
  try {
    const raw = await tree.entries(0, tree.size);
    return raw.map((bytes, i) => {
      try {
        return decodeEntry(bytes);
      } catch (e) {
        // Stryker disable next-line ConditionalExpression: decodeEntry throws only TlogErrors
        if (isTlogError(e)) throw new TlogError(e.code, `${where}: entry ${i} of the bundles: ${e.message}`);
        throw e;
      }
    });
  } catch (e) {
    problems.push(problemOf(e));
    return [];
  }
}

/** The entry tags from `from` on while listed and present (a tag listed but gone ends them, as in openLog). */
async function contiguousEntries(backend: ContentBackend, listed: ReadonlySet<number>, from: number): Promise<LogEntry[]> {
  let n = from;
  while (listed.has(n)) n++;
  const read = await mapLimited(
    Array.from({ length: n - from }, (_, i) => from + i),
    READ_CONCURRENCY,
    (i) => readEntry(backend, i),
  );
  const gone = read.indexOf(undefined);
  return (gone < 0 ? read : read.slice(0, gone)) as LogEntry[];
}

/**
 * Entry tags against the bundles: below the checkpoint each must be its bundle's entry
 * (TLOG_TILE_MISMATCH: two stories of one leaf; a tiled log need not keep them); from the
 * checkpoint on, the contiguous ones are entries not yet checkpointed (returned), and any
 * after a gap is TLOG_ENTRY_MISSING as in the untiled log.
 */
async function entryTagsAgainst(
  backend: ContentBackend,
  listed: readonly number[],
  tagged: readonly LogEntry[],
  bundled: readonly LogEntry[],
  problems: LogProblem[],
): Promise<LogEntry[]> {
  for (const [i, entry] of tagged.slice(0, bundled.length).entries()) {
    if (!sameEntry(entry, bundled[i]))
      problems.push({
        code: 'TLOG_TILE_MISMATCH',
        message: `${backend.description}: tlog.entry.${i} records revision ${entry.revision} as ${entry.digest}, the signed entry bundle records revision ${bundled[i].revision} as ${bundled[i].digest}`,
      });
  }
  const have = new Set(listed);
  // a log whose entry tags start at 0 (written by appends) keeps one per leaf: a hole under the
  // checkpoint is a deleted tag (the bundles still hold the entry); one generated as tiles has none there
  if (have.has(0) && tagged.length < bundled.length)
    problems.push({
      code: 'TLOG_ENTRY_MISSING',
      message: `${backend.description}: the checkpoint covers ${bundled.length} entries but tlog.entry.${tagged.length} is missing: an entry tag was deleted`,
    });
  // tags up to the checkpoint were read already; a tiled log may lack those below it
  const after = tagged.length >= bundled.length ? tagged.slice(bundled.length) : await contiguousEntries(backend, have, bundled.length);
  let n = Math.max(tagged.length, bundled.length);
  while (have.has(n)) n++;
  const stray = listed.filter((i) => i > n);
  if (stray.length)
    problems.push({
      code: 'TLOG_ENTRY_MISSING',
      message: `${backend.description}: tlog.entry.${n} is missing but entries ${stray.join(', ')} exist: an entry was deleted`,
    });
  return [...after];
}

/**
 * Every tlog.checkpoint.<n>: signed by a trusted key for this origin, of the size its tag
 * names, and — from the latest tree — with the root the tiles give for n. A checkpoint tag
 * beyond the latest one means tlog.checkpoint was put back: TLOG_ROLLBACK.
 */
async function checkCheckpointTags(
  backend: ContentBackend,
  origin: string,
  tags: readonly string[],
  verifiers: readonly NoteVerifier[],
  latest: Checkpoint | undefined,
  tree: TiledTree | undefined,
  problems: LogProblem[],
): Promise<void> {
  const where = backend.description;
  for (const size of numbered(tags, CHECKPOINT_TAG)) {
    const tag = checkpointTag(size);
    try {
      const note = await storedNote(backend, tag);
      if (note === undefined) throw new TlogError('TLOG_ENTRY_MISSING', `${where}: ${tag} vanished while being read`);
      const c = verifyCheckpointNote(note, verifiers, origin).checkpoint;
      if (c.size !== size)
        throw new TlogError(
          c.size < size ? 'TLOG_ROLLBACK' : 'TLOG_CHECKPOINT_MALFORMED',
          `${where}:${tag} serves the checkpoint of size ${c.size}${c.size < size ? ': an older checkpoint put back under a newer tag' : ''}`,
        );
      if (!latest || !tree) continue;
      if (size > latest.size)
        throw new TlogError(
          'TLOG_ROLLBACK',
          `${where}: ${LATEST_CHECKPOINT_TAG} serves the checkpoint of size ${latest.size}, older than ${tag}: the latest checkpoint was put back`,
        );
      const root = await tree.rootAt(size);
      if (!hashesEqual(root, c.root))
        throw new TlogError(
          'TLOG_ROOT_MISMATCH',
          `${where}: the tree of the latest checkpoint has root ${encodeBase64(root)} at size ${size}, ${tag} signs ${encodeBase64(c.root)}: the log was rewritten after it was checkpointed`,
        );
    } catch (e) {
      const p = problemOf(e);
      problems.push({ code: p.code, message: `${tag}: ${p.message}` });
    }
  }
}

/**
 * Each tlog.revision.<r> (the entry manifest of revision r's leaf, annotated with its index)
 * names a leaf that logs exactly that entry; a lying pointer is TLOG_ENTRY_MALFORMED, as the
 * reader refuses it (tiled.ts findRevision).
 */
async function revisionPointers(backend: ContentBackend, tags: readonly string[], entries: readonly LogEntry[]): Promise<LogProblem[]> {
  const found = await mapLimited(numbered(tags, REVISION_TAG), READ_CONCURRENCY, async (r): Promise<LogProblem | undefined> => {
    const tag = revisionTag(r);
    const where = `${backend.description}:${tag}`;
    try {
      const m = await backend.getManifest(tag);
      if (!m) return undefined;
      const { content, annotations } = await layerContent(backend, m.bytes, LOG_ENTRY_ARTIFACT_TYPE, LOG_ENTRY_MEDIA_TYPE, where);
      const index = annotations[LOG_INDEX_ANNOTATION];
      const leaf = index !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(index) ? entries[Number(index)] : undefined;
      if (leaf?.revision === r && sameEntry(leaf, decodeEntry(content))) return undefined;
      return {
        code: 'TLOG_ENTRY_MALFORMED',
        message: `${where} points at leaf ${index ?? '(none)'}, which ${leaf ? `logs revision ${leaf.revision} as ${leaf.digest}` : 'the log does not have'}, not the entry it holds for revision ${r}: a lying revision pointer`,
      };
    } catch (e) {
      const p = problemOf(e);
      return { code: p.code, message: p.message.startsWith(where) ? p.message : `${where}: ${p.message}` };
    }
  });
  return found.filter((p): p is LogProblem => p !== undefined);
}

/** Every revision the signed tree logs has its tlog.revision.<r> pointer: without it readers find no entry (TLOG_UNLOGGED_REVISION). */
function missingPointers(where: string, tags: readonly string[], bundled: readonly LogEntry[]): LogProblem[] {
  const listed = new Set(tags);
  const seen = new Set<number>();
  const problems: LogProblem[] = [];
  for (const [i, e] of bundled.entries()) {
    if (seen.has(e.revision)) continue;
    seen.add(e.revision);
    if (!listed.has(revisionTag(e.revision)))
      problems.push({
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${where}: revision ${e.revision} is leaf ${i} of the signed tree but ${revisionTag(e.revision)} is missing: readers find no entry for it`,
      });
  }
  return problems;
}

/** The caller's memory: the log must extend the checkpoint they trusted before (sets result.consistencyProof). */
async function checkExtendsTrusted(
  reader: LogReader,
  trustedNote: string,
  verifiers: readonly NoteVerifier[],
  result: LogVerification,
): Promise<void> {
  try {
    const trusted = verifyCheckpointNote(trustedNote, verifiers, reader.origin);
    if (!result.checkpoint)
      throw new TlogError(
        'TLOG_ROLLBACK',
        `${reader.backend.description}: no verifiable checkpoint to compare with the trusted one of size ${trusted.checkpoint.size}`,
      );
    result.consistencyProof = await reader.checkExtends(trusted.checkpoint, result.checkpoint.checkpoint);
  } catch (e) {
    const p = problemOf(e);
    result.problems.push({ code: p.code, message: `against the trusted checkpoint: ${p.message}` });
  }
}
