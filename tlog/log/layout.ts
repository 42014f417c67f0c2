/**
 * How a repository's transparency log is stored: in the same OCI repository as its archives,
 * using nothing but tags, manifests and blobs (so a plain distribution registry without the
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
 * The latest checkpoint is the one with the largest n. Building and reading these manifests:
 * artifact.ts; writing them: store.ts.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';

export const LOG_ENTRY_ARTIFACT_TYPE = 'application/vnd.gantry.log.entry.v1';
export const LOG_ENTRY_MEDIA_TYPE = 'application/vnd.gantry.log.entry.v1+text';
export const LOG_CHECKPOINT_ARTIFACT_TYPE = 'application/vnd.gantry.log.checkpoint.v1';
export const LOG_CHECKPOINT_MEDIA_TYPE = 'application/vnd.gantry.log.checkpoint.v1+note';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
/** Annotation on an entry manifest naming its index (so an entry moved to another index is seen). */
export const LOG_INDEX_ANNOTATION = 'dev.gantry.log.index';

export const EMPTY_CONFIG = new Uint8Array(Buffer.from('{}'));
export const EMPTY_DIGEST = sha256Digest(EMPTY_CONFIG);
export const ENTRY_TAG = /^tlog\.entry\.(0|[1-9][0-9]{0,15})$/;
export const CHECKPOINT_TAG = /^tlog\.checkpoint\.(0|[1-9][0-9]{0,15})$/;
/** The largest entry or checkpoint a log artifact may hold. */
export const MAX_LOG_BLOB_BYTES = 64 * 1024;

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

/** An OCI descriptor as a log manifest holds it. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  data?: string;
  annotations?: Record<string, string>;
}
