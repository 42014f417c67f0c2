/**
 * What an archive store needs from the place that holds content: tags, manifests and blobs,
 * addressed by digest. Two implementations: a distribution registry over HTTP
 * (distribution/) and an OCI image-layout directory (layout/). Revision rules, summaries and
 * verification live above this line, in archive-store.ts, so both kinds behave the same.
 */
export interface ContentBackend {
  /** e.g. `127.0.0.1:5000/acme/pay` or `oci-layout:/tmp/x`, for messages */
  readonly description: string;
  /** every tag in the repository ([] when the repository does not exist yet) */
  listTags(): Promise<string[]>;
  /** a manifest by tag or digest, its digest checked; undefined when absent */
  getManifest(reference: string): Promise<{ bytes: Uint8Array; digest: string; mediaType?: string } | undefined>;
  /** store a manifest under a tag (and so under its digest) */
  putManifest(tag: string, bytes: Uint8Array, mediaType: string): Promise<string>;
  hasBlob(digest: string): Promise<boolean>;
  /**
   * Whether the manifest `digest` can be read here with the credentials in use, without
   * downloading it (a HEAD): true, false when absent; refused credentials throw AUTH_FAILED.
   */
  hasManifest(digest: string): Promise<boolean>;
  /** upload a blob whose digest the caller computed; the store checks it */
  putBlob(digest: string, bytes: Uint8Array, onProgress?: (sent: number, total: number) => void): Promise<void>;
  /**
   * At most the first `maxBytes` of a blob, for reading an archive's leading claims without the
   * rest. Not digest-checked (a prefix cannot be): only signed content may be trusted from it.
   */
  getBlobPrefix(digest: string, maxBytes: number): Promise<Uint8Array>;
  /** download a blob and check its digest (and size when given) before returning it */
  getBlob(digest: string, size?: number, onProgress?: (received: number, total: number) => void): Promise<Uint8Array>;
}
