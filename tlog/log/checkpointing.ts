/**
 * Who may extend a log, and its checkpoints: only the holder of the key that signed its latest
 * checkpoint, and only while the stored entries still hash to it. checkpointLog() signs and
 * stores the checkpoint of a settled prefix of the entries (the append decides which,
 * append.ts). Checkpoints need no mutual exclusion: the checkpoint of size n over the same
 * entries, signed by the same Ed25519 key, is the same bytes whoever writes it.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { formatCheckpoint, type Checkpoint } from '../checkpoint.js';
import { isTlogError, TlogError } from '../errors.js';
import { parseVerifierKey, signNote, type NoteSigner } from '../note.js';
import { openLog, type RepositoryLog, type VerifiedCheckpoint } from './read.js';
import { storeCheckpointNote } from './store.js';

/**
 * The latest checkpoint, verified with the signer's own key against the stored entries, or
 * undefined when the log has none. A log that is not this key's (TLOG_NOTE_UNVERIFIED) or
 * whose history changed (TLOG_ROOT_MISMATCH, …) is never extended.
 */
export async function latestOwnCheckpoint(log: RepositoryLog, signer: NoteSigner): Promise<VerifiedCheckpoint | undefined> {
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
