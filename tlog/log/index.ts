/**
 * A repository's transparency log as stored in the same OCI repository as its archives
 * (docs/transparency.md): the storage layout (layout.ts, artifact.ts, store.ts), reading a
 * snapshot and proving revisions on it (read.ts), extending it — checkpoints (checkpointing.ts)
 * and the timed append (append.ts) — and checking it end to end (verify.ts).
 */
export {
  LOG_ENTRY_ARTIFACT_TYPE,
  LOG_ENTRY_MEDIA_TYPE,
  LOG_CHECKPOINT_ARTIFACT_TYPE,
  LOG_CHECKPOINT_MEDIA_TYPE,
  OCI_EMPTY_MEDIA_TYPE,
  LOG_INDEX_ANNOTATION,
  LATEST_CHECKPOINT_TAG,
  CHECKPOINT_TAG,
  entryTag,
  tileTag,
  bundleTag,
  revisionTag as logRevisionTag,
  checkpointTag,
  defaultOrigin,
} from './layout.js';
export {
  openLog,
  readEntry,
  RepositoryLog,
  verifyCheckpointNote,
  type StoredCheckpoint,
  type VerifiedCheckpoint,
  type InclusionResult,
  type RevisionEvidence,
} from './read.js';
export { storeCheckpointNote, storeEntry } from './store.js';
export { checkpointLog } from './checkpointing.js';
export { appendToLog, type AppendOptions, type AppendResult } from './append.js';
export { logEntryOf } from './published.js';
export { verifyLog, type LogProblem, type LogVerification, type VerifyLogOptions } from './verify.js';
export { openTiledLog, EntriesLog, storedNote, type LogReader, type TiledLogOptions } from './tiled.js';
export { registryTileSource, storeTiles, tileManifest, tagOfTile } from './tiles-store.js';
