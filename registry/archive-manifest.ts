/**
 * The OCI image manifest of one provider archive (docs/storage.md): `artifactType`
 * GANTRY_ARTIFACT_TYPE, a config blob with the claims summary, one layer with the archive
 * bytes. Building it for a push, and reading one back — ours, or a wasmCloud archive's — with
 * the shape and sizes checked before any blob is asked for.
 */
import type { VerifiedPar } from '../par/index.js';
import { isDigest, sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';
import {
  ARCHIVE_LAYERS,
  CREATED_ANNOTATION,
  GANTRY_ARTIFACT_TYPE,
  GANTRY_CONFIG,
  GANTRY_LAYER,
  OCI_MANIFEST,
  TITLE_ANNOTATION,
  WASMCLOUD_CONFIG,
  WASMCLOUD_LAYER,
} from './media-types.js';
import { type ArchiveMediaTypes, archiveTitle } from './foreign-tools.js';
import { configOf, summaryOf, type ArchiveSummary } from './summary.js';

/** Config blobs hold a summary and one claims token: far below this. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** What a push uploads for one verified archive: the config blob and the manifest naming it and the layer. */
export interface BuiltArchiveManifest {
  summary: ArchiveSummary;
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
}

/** The config blob and manifest of `verified`, whose archive bytes are the layer `layer`. */
export function buildArchiveManifest(
  verified: VerifiedPar,
  layer: { digest: string; size: number },
  mediaTypes: ArchiveMediaTypes = 'gantry',
): BuiltArchiveManifest {
  const revision = verified.claims.revision;
  const wasmcloud = mediaTypes === 'wasmcloud';
  const config = Buffer.from(wasmcloud ? '{}' : JSON.stringify(configOf(verified, layer)));
  const configDigest = sha256Digest(config);
  const summary = summaryOf(verified);
  const annotations: Record<string, string> = { [CREATED_ANNOTATION]: new Date().toISOString(), 'dev.gantry.revision': String(revision) };
  if (summary.version) annotations['org.opencontainers.image.version'] = summary.version;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(wasmcloud ? {} : { artifactType: GANTRY_ARTIFACT_TYPE }),
    config: { mediaType: wasmcloud ? WASMCLOUD_CONFIG : GANTRY_CONFIG, digest: configDigest, size: config.length },
    layers: [
      {
        mediaType: wasmcloud ? WASMCLOUD_LAYER : GANTRY_LAYER,
        digest: layer.digest,
        size: layer.size,
        annotations: { [TITLE_ANNOTATION]: archiveTitle(verified.claims, verified.format) },
      },
    ],
    annotations,
  };
  return { summary, config, configDigest, manifest: Buffer.from(JSON.stringify(manifest)) };
}

/** The config blob's declared size, checked before it is fetched. */
export function checkConfigSize(config: Descriptor, where: string): void {
  if (!Number.isSafeInteger(config.size) || config.size < 0 || config.size > MAX_CONFIG_BYTES) {
    throw new RegistryError(
      'BAD_MANIFEST',
      `${where}: the config blob declares ${config.size} bytes; a Gantry archive summary is at most ${MAX_CONFIG_BYTES}`,
    );
  }
}

/** An OCI image manifest (BAD_MANIFEST: not JSON; NOT_AN_ARCHIVE: not an image manifest). */
export function parseManifest(bytes: Uint8Array, where: string): ImageManifest {
  let m: ImageManifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageManifest;
  } catch (e) {
    throw new RegistryError('BAD_MANIFEST', `${where}: manifest is not JSON (${(e as Error).message})`);
  }
  if (m?.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers))
    throw new RegistryError('NOT_AN_ARCHIVE', `${where}: not an OCI image manifest`);
  return m;
}

/** The manifest's one provider-archive layer (ours or wasmCloud's), its digest and size checked. */
export function archiveLayer(m: ImageManifest, where: string): Descriptor {
  const layers = m.layers.filter((l) => (ARCHIVE_LAYERS as readonly string[]).includes(l.mediaType));
  if (layers.length !== 1) {
    throw new RegistryError(
      'NOT_AN_ARCHIVE',
      `${where}: expected exactly one provider-archive layer (${ARCHIVE_LAYERS.join(' or ')}), found ${layers.length}`,
    );
  }
  const l = layers[0];
  if (!isDigest(l.digest) || !Number.isSafeInteger(l.size) || l.size < 0)
    throw new RegistryError('BAD_MANIFEST', `${where}: archive layer has a bad digest or size`);
  return l;
}
