/**
 * Writing log artifacts as they are, without any check: for copying a log verbatim (a mirror)
 * and for tests that play a lying registry; the append (append.ts) and the checkpointing
 * (checkpointing.ts) write through them after their own checks.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { encodeEntry, type LogEntry } from '../entry.js';
import { checkpointManifest, entryManifest } from './artifact.js';
import { checkpointTag, EMPTY_CONFIG, EMPTY_DIGEST, entryTag } from './layout.js';

/** The blobs of a log artifact holding `content` (content-addressed: never contended). */
export async function putArtifactBlobs(backend: ContentBackend, content: Uint8Array): Promise<void> {
  await Promise.all([backend.putBlob(EMPTY_DIGEST, EMPTY_CONFIG), backend.putBlob(sha256Digest(content), content)]);
}

/** Writes one log artifact: its blobs, then its manifest under `tag`. */
async function putArtifact(backend: ContentBackend, tag: string, manifest: Uint8Array, content: Uint8Array): Promise<string> {
  await putArtifactBlobs(backend, content);
  return backend.putManifest(tag, manifest, OCI_MANIFEST);
}

/**
 * Stores a signed note under tlog.checkpoint.<size> as is, without any check: for copying a
 * log verbatim (a mirror) and for tests that play a lying registry. Pushes use appendToLog.
 */
export async function storeCheckpointNote(backend: ContentBackend, size: number, note: string): Promise<string> {
  const content = new Uint8Array(Buffer.from(note, 'utf8'));
  return putArtifact(backend, checkpointTag(size), checkpointManifest(size, content), content);
}

/** Stores `entry` under tlog.entry.<index> as is, without any check (mirrors, tests). */
export async function storeEntry(backend: ContentBackend, index: number, entry: LogEntry): Promise<string> {
  const content = encodeEntry(entry);
  return putArtifact(backend, entryTag(index), entryManifest(index, content), content);
}
