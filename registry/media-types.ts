/**
 * Media types of the storage convention (docs/storage.md). Gantry writes its own artifact
 * and config types and one archive layer; it also reads wasmCloud's types so archives pushed
 * by `wash` can be resolved and pulled.
 */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export const GANTRY_ARTIFACT_TYPE = 'application/vnd.gantry.provider.archive.v1';
export const GANTRY_CONFIG = 'application/vnd.gantry.provider.archive.config.v1+json';
export const GANTRY_LAYER = 'application/vnd.gantry.provider.archive.layer.v1+par';

export const WASMCLOUD_CONFIG = 'application/vnd.wasmcloud.provider.archive.config';
export const WASMCLOUD_LAYER = 'application/vnd.wasmcloud.provider.archive.layer.v1+par';

/** Layer media types that hold a whole provider archive. */
export const ARCHIVE_LAYERS = [GANTRY_LAYER, WASMCLOUD_LAYER] as const;

/** Annotation holding the push time (RFC 3339), standard OCI key. */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** Annotation naming a layer's file: `oras pull` writes the layer under this name. */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
/** Annotation naming a manifest in an image-layout index.json. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
