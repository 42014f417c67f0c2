/**
 * Every refusal the transparency-log library makes carries a stable `code` (the CLI maps it to
 * an exit status, the controller to the evidence of a `LogInconsistent` condition) and a
 * message that says what failed and what to do. Codes never change meaning; new failure kinds
 * get new codes.
 */

export const TLOG_ERROR_CODES = [
  // Merkle proofs (tlog/merkle.ts)
  'TLOG_BAD_HASH', // a leaf hash, root or proof element is not 32 bytes
  'TLOG_BAD_INDEX', // index ≥ size, size1 > size2, size1 = 0, or a size outside the tree
  'TLOG_BAD_PROOF', // the proof has the wrong length or does not fold to the claimed root(s)
  // Signed notes (tlog/note.ts)
  'TLOG_NOTE_MALFORMED', // not a signed note: framing, control characters, bad signature line
  'TLOG_NOTE_BAD_KEY', // a signer or verifier key does not parse, or its key hash does not recompute
  'TLOG_NOTE_BAD_SIGNATURE', // a signature by a trusted key (name and key hash match) does not verify
  'TLOG_NOTE_UNVERIFIED', // no signature by any trusted key
  // Checkpoints and entries (tlog/checkpoint.ts, tlog/entry.ts)
  'TLOG_CHECKPOINT_MALFORMED', // the note text is not a C2SP tlog-checkpoint body
  'TLOG_ENTRY_MALFORMED', // a log entry is not the canonical gantry-log-entry/v1 encoding
  // A log as stored in a registry (tlog/log/)
  'TLOG_NO_LOG', // the repository has no log (no checkpoint tag)
  'TLOG_ENTRY_MISSING', // the checkpoint covers an index whose entry tag is absent
  'TLOG_ORIGIN_MISMATCH', // the checkpoint's origin is not this repository's log
  'TLOG_KEY_NOT_FOR_ORIGIN', // the checkpoint is signed only by trusted keys bound to other origins (origin-keys.ts)
  'TLOG_ROOT_MISMATCH', // the stored entries do not hash to the checkpoint's root
  'TLOG_TAG_MISMATCH', // a rev-N tag's archive disagrees with the log entry for revision N
  'TLOG_UNLOGGED_REVISION', // a rev-N tag has no entry in the log
  'TLOG_DUPLICATE_REVISION', // two entries claim the same revision
  'TLOG_ROLLBACK', // the log is smaller than a checkpoint already trusted
  'TLOG_FORK', // the log is not an extension of a checkpoint already trusted
  'TLOG_APPEND_TIMEOUT', // an append could not write its entry within the timing bound Δ; retry
  'TLOG_APPEND_CONTENDED', // an append lost the race too many times; retry later
  // Tiles (tlog/tiles/, tlog/log/tiles-store.ts)
  'TLOG_TILE_MALFORMED', // a tile path, hash tile or entry bundle is not well formed
  'TLOG_TILE_MISSING', // a tile a proof needs is absent
  'TLOG_TILE_MISMATCH', // tiles do not hash to the signed root they are read under
  // The sequencer (tlog/sequencer/)
  'TLOG_SEQUENCED', // a sequencer holds this log: appends go through it (gantry par push --log-sequencer)
  'TLOG_SEQUENCER_REFUSED', // the sequencer refused or could not be reached; the archive is pushed, its entry not appended
] as const;

export type TlogErrorCode = (typeof TLOG_ERROR_CODES)[number];

export class TlogError extends Error {
  readonly code: TlogErrorCode;

  constructor(code: TlogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlogError';
    this.code = code;
  }
}

export function isTlogError(err: unknown): err is TlogError {
  return err instanceof TlogError;
}
