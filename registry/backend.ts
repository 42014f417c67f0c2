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
  /**
   * download a blob and check its digest (and size when given) before returning it; `parts`:
   * parts of it to hash in the same pass where the backend can (else `parts.found` stays unset)
   */
  getBlob(digest: string, size?: number, onProgress?: (received: number, total: number) => void, parts?: BlobParts): Promise<Uint8Array>;
}

/**
 * Parts of a blob (archive members) whose SHA-256 a caller would otherwise compute in a second
 * pass over the bytes: `locate` sees the first bytes received (up to 64 KiB, growing) until it
 * names the parts by offset, or [] for none; a download that hashed them sets `found`.
 */
export interface BlobParts {
  locate(prefix: Uint8Array): Array<[start: number, end: number]> | undefined;
  found?: Array<{ start: number; end: number /** lowercase hex */; hex: string }>;
}
