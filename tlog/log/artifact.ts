/**
 * A log artifact (layout.ts): the OCI manifest with one layer that holds an entry or a
 * checkpoint note. Building one, and reading its content back checked against the manifest's
 * shape and the layer digest.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';
import { OCI_MANIFEST, TITLE_ANNOTATION } from '../../registry/media-types.js';
import { decodeBase64, encodeBase64 } from '../base64.js';
import { TlogError, type TlogErrorCode } from '../errors.js';
import {
  type Descriptor,
  EMPTY_CONFIG,
  EMPTY_DIGEST,
  LOG_CHECKPOINT_ARTIFACT_TYPE,
  LOG_CHECKPOINT_MEDIA_TYPE,
  LOG_ENTRY_ARTIFACT_TYPE,
  LOG_ENTRY_MEDIA_TYPE,
  LOG_INDEX_ANNOTATION,
  MAX_LOG_BLOB_BYTES,
  OCI_EMPTY_MEDIA_TYPE,
} from './layout.js';

/** The manifest of log entry `index` (its layer titled entry-<index>.txt, so `oras pull` writes it as a file). */
export function entryManifest(index: number, content: Uint8Array): Uint8Array {
  return manifestFor(LOG_ENTRY_ARTIFACT_TYPE, LOG_ENTRY_MEDIA_TYPE, content, `entry-${index}.txt`, {
    [LOG_INDEX_ANNOTATION]: String(index),
  });
}

/** The manifest of the checkpoint of the tree of `size` (its layer titled checkpoint-<size>.txt). */
export function checkpointManifest(size: number, content: Uint8Array): Uint8Array {
  return manifestFor(LOG_CHECKPOINT_ARTIFACT_TYPE, LOG_CHECKPOINT_MEDIA_TYPE, content, `checkpoint-${size}.txt`);
}

/** The manifest bytes of a log artifact holding `content` as its one layer, titled `title`. */
export function manifestFor(
  artifactType: string,
  mediaType: string,
  content: Uint8Array,
  title: string,
  annotations?: Record<string, string>,
): Uint8Array {
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: EMPTY_CONFIG.length, data: encodeBase64(EMPTY_CONFIG) },
    layers: [
      {
        mediaType,
        digest: sha256Digest(content),
        size: content.length,
        data: encodeBase64(content),
        annotations: { [TITLE_ANNOTATION]: title },
      },
    ],
    ...(annotations ? { annotations } : {}),
  };
  return new Uint8Array(Buffer.from(JSON.stringify(manifest)));
}

/** The single layer's bytes of a log manifest, checked against its digest. */
export async function layerContent(
  backend: ContentBackend,
  bytes: Uint8Array,
  artifactType: string,
  mediaType: string,
  where: string,
  /** tiles: a larger bound and their own code (default: an entry's or checkpoint's) */
  limits: { maxBytes: number; code: TlogErrorCode } = {
    maxBytes: MAX_LOG_BLOB_BYTES,
    code: artifactType === LOG_ENTRY_ARTIFACT_TYPE ? 'TLOG_ENTRY_MALFORMED' : 'TLOG_CHECKPOINT_MALFORMED',
  },
): Promise<{ content: Uint8Array; annotations: Record<string, string> }> {
  let m: { artifactType?: string; layers?: Descriptor[]; annotations?: Record<string, string> };
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new TlogError(limits.code === 'TLOG_TILE_MALFORMED' ? limits.code : 'TLOG_ENTRY_MALFORMED', `${where} is not a JSON manifest`);
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
    layer.size > limits.maxBytes
  ) {
    throw new TlogError(limits.code, `${where} is not a ${artifactType} manifest with one ${mediaType} layer`);
  }
  let content: Uint8Array | null = typeof layer.data === 'string' ? decodeBase64(layer.data) : null;
  if (!content) content = await backend.getBlob(layer.digest, layer.size);
  if (sha256Digest(content) !== layer.digest || content.length !== layer.size) {
    throw new TlogError(limits.code, `${where}: the embedded content does not match the layer digest ${layer.digest}`);
  }
  return { content, annotations: m.annotations ?? {} };
}
