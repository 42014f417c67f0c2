/**
 * An OCI distribution client for one repository: tags (with `Link` pagination), manifests by
 * tag or digest (digest checked), blob HEAD/GET (digest checked while streaming) and blob
 * uploads (upload.ts). Implements the ContentBackend that archive-store.ts builds on.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { logger } from '../../runtime/log.js';
import type { BlobParts, ContentBackend } from '../backend.js';
import { sha256Digest } from '../digest.js';
import { RegistryError } from '../errors.js';
import type { RegistryCredentials } from './auth.js';
import { networkError } from './failures.js';
import { getManifest, MANIFEST_ACCEPT } from './get-manifest.js';
import { describeFailure, discard, readBounded } from './responses.js';
import type { TransferGuard, TransferLimits } from './transfer-guard.js';
import { RegistryTransport } from './transport.js';
import { uploadBlob } from './upload.js';

export interface DistributionOptions {
  plainHttpHosts?: string[];
  credentials?: RegistryCredentials;
  caFile?: string;
  timeoutMs?: number;
  /** a blob download that pauses longer than this between reads fails with TIMEOUT (default 30 s) */
  idleTimeoutMs?: number;
  /** every request's deadline and minimum rate (default DEFAULT_TRANSFER_LIMITS: transfer-guard.ts) */
  limits?: TransferLimits;
  maxRetries?: number;
  /** blobs above this size go up in PATCH chunks of this size (default 64 MiB; measured in docs/storage.md) */
  chunkBytes?: number;
  /** tags asked for per page (default 1000) */
  tagPageSize?: number;
}

/** PUTs of one manifest while the registry reports one of its blobs unknown (see putManifest) */
const MANIFEST_BLOB_RACE_ATTEMPTS = 3;
/**
 * Each PATCH costs distribution time in proportion to its size beyond the bytes themselves:
 * 64 MiB + 4 KiB took ~377 ms in 16 MiB chunks, ~306 ms in 64 MiB ones, ~299 ms in one PUT.
 * 64 MiB keeps nearly all of the speed and still resumes larger blobs chunk by chunk.
 */
const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
/** blobs at least this large (and of known size) are read straight into their buffer (blob-download.ts) */
const DIRECT_DOWNLOAD_MIN_BYTES = 1024 * 1024;
const MAX_TAG_PAGES = 1000;
const MAX_TAG_PAGE_BYTES = 4 * 1024 * 1024;

export class DistributionClient implements ContentBackend {
  readonly description: string;
  readonly transport: RegistryTransport;
  private readonly chunkBytes: number;
  private readonly tagPageSize: number;
  private readonly log;

  constructor(
    readonly host: string,
    readonly repository: string,
    opts: DistributionOptions = {},
  ) {
    this.description = `${host}/${repository}`;
    this.transport = new RegistryTransport({
      host,
      repository,
      plainHttpHosts: opts.plainHttpHosts ?? [],
      credentials: opts.credentials,
      caFile: opts.caFile,
      timeoutMs: opts.timeoutMs ?? 30_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
      maxRetries: opts.maxRetries ?? 3,
      limits: opts.limits,
    });
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.tagPageSize = opts.tagPageSize ?? 1000;
    this.log = logger('registry', { repository: this.description });
  }

  private path(suffix: string): string {
    return `/v2/${this.repository}/${suffix}`;
  }

  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = this.path(`tags/list?n=${this.tagPageSize}`);
    for (let page = 0; next; page++) {
      if (page >= MAX_TAG_PAGES)
        throw new RegistryError('HTTP_ERROR', `${this.description}: tag list did not end after ${MAX_TAG_PAGES} pages`);
      const sent = await this.transport.send('GET', next, { actions: 'pull', retry: true, headers: { accept: 'application/json' } });
      const { res } = sent;
      if (res.status === 404) {
        await discard(res);
        return tags; // no repository yet: nothing published
      }
      if (!res.ok) throw await this.failure(res, 'list tags');
      let body: { tags?: string[] | null };
      try {
        body = JSON.parse(
          Buffer.from(await readBounded(res, MAX_TAG_PAGE_BYTES, `${this.description}: a tag list page`, sent)).toString('utf8'),
        );
      } catch (e) {
        if (e instanceof RegistryError) throw e;
        throw new RegistryError('BAD_MANIFEST', `${this.description}: the tag list is not JSON (${(e as Error).message})`);
      }
      tags.push(...(body.tags ?? []));
      next = nextLink(res.headers.get('link'), this.transport.baseUrl);
    }
    return tags;
  }

  /** By tag or by digest; a digest is checked against the bytes served (get-manifest.ts). */
  getManifest(reference: string): Promise<{ bytes: Uint8Array; digest: string; mediaType?: string } | undefined> {
    return getManifest(this, reference);
  }

  /**
   * Stores a manifest under `tag`. distribution's filesystem storage rewrites a repository's
   * link to a blob in place (truncate, then write) each time an upload of that blob commits, so
   * a manifest PUT that checks its blobs while another client commits the same blob (the empty
   * config every log artifact shares, or a layer two pushes have in common) can read the link
   * empty and answer 400 MANIFEST_BLOB_UNKNOWN for a blob that is there. That answer is tried
   * again, twice, shortly after: a blob that is really missing is refused the same way each time.
   */
  async putManifest(tag: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = sha256Digest(bytes);
    let res: Response;
    for (let attempt = 1; ; attempt++) {
      ({ res } = await this.transport.send('PUT', this.path(`manifests/${tag}`), {
        actions: 'pull,push',
        retry: true,
        body: bytes,
        headers: { 'content-type': mediaType },
      }));
      if (res.status === 201 || res.status === 200) break;
      const failure = await this.failure(res, `put manifest ${tag}`);
      if (res.status !== 400 || !failure.message.includes('MANIFEST_BLOB_UNKNOWN') || attempt >= MANIFEST_BLOB_RACE_ATTEMPTS) throw failure;
      this.log.debug(
        { tag, attempt },
        'manifest PUT found a blob unknown; a concurrent upload of it may be rewriting its link, trying again',
      );
      await sleep(25 * attempt);
    }
    await discard(res);
    const answered = res.headers.get('docker-content-digest');
    if (answered && answered !== digest)
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `${this.description}:${tag}: registry stored the manifest as ${answered}, we sent ${digest}`,
      );
    return digest;
  }

  async hasManifest(digest: string): Promise<boolean> {
    const { res } = await this.transport.send('HEAD', this.path(`manifests/${digest}`), {
      actions: 'pull',
      retry: true,
      headers: { accept: MANIFEST_ACCEPT },
    });
    await discard(res);
    if (res.status === 404) return false;
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'AUTH_FAILED',
        `${this.description}: HEAD manifest ${digest} was refused (${res.status}); the credentials in use may not read this repository`,
        { status: res.status },
      );
    }
    if (!res.ok)
      throw new RegistryError('HTTP_ERROR', `${this.description}: HEAD manifest ${digest} returned ${res.status}`, { status: res.status });
    const answered = res.headers.get('docker-content-digest');
    if (answered && answered !== digest)
      throw new RegistryError('DIGEST_MISMATCH', `${this.description}: HEAD manifest ${digest} answered for ${answered}`);
    return true;
  }

  async hasBlob(digest: string): Promise<boolean> {
    const { res } = await this.transport.send('HEAD', this.path(`blobs/${digest}`), { actions: 'pull', retry: true });
    await discard(res);
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw new RegistryError('HTTP_ERROR', `${this.description}: HEAD blob ${digest} returned ${res.status}`, { status: res.status });
  }

  async putBlob(digest: string, bytes: Uint8Array, onProgress?: (sent: number, total: number) => void): Promise<void> {
    if (await this.hasBlob(digest)) {
      onProgress?.(bytes.length, bytes.length);
      return;
    }
    await uploadBlob(this, digest, bytes, { chunkBytes: this.chunkBytes, onProgress, log: this.log });
  }

  async getBlobPrefix(digest: string, maxBytes: number): Promise<Uint8Array> {
    const sent = await this.transport.send('GET', this.path(`blobs/${digest}`), {
      actions: 'pull',
      retry: true,
      headers: { range: `bytes=0-${Math.max(0, maxBytes - 1)}` },
    });
    const { res } = sent;
    if (res.status === 404) {
      await discard(res);
      throw new RegistryError('NOT_FOUND', `${this.description}: blob ${digest} is not in the registry`, { status: 404 });
    }
    if (!res.ok) throw await this.failure(res, `get blob ${digest}`);
    // a registry that ignores Range sends the whole blob: read the prefix and hang up
    const out = new Uint8Array(maxBytes);
    let received = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const n = Math.min(chunk.length, maxBytes - received);
        out.set(chunk.subarray(0, n), received);
        received += n;
        if (received >= maxBytes) break;
      }
    } catch (e) {
      throw networkError(e, 'GET', this.transport.url(this.path(`blobs/${digest}`)), sent.signal);
    } finally {
      sent.abort();
    }
    return out.subarray(0, received);
  }

  async getBlob(
    digest: string,
    size?: number,
    onProgress?: (received: number, total: number) => void,
    parts?: BlobParts,
  ): Promise<Uint8Array> {
    const transport = this.transport;
    // one deadline for the blob, whichever path reads it
    const guard = transport.guard(`GET blob ${digest}`);
    if (size !== undefined && size >= DIRECT_DOWNLOAD_MIN_BYTES) {
      const direct = await this.downloadDirect(digest, size, guard, onProgress, parts);
      if (direct) return direct;
    }
    const sent = await transport.send('GET', this.path(`blobs/${digest}`), { actions: 'pull', retry: true, guard });
    const { res } = sent;
    if (res.status === 404) {
      await discard(res);
      throw new RegistryError('NOT_FOUND', `${this.description}: blob ${digest} is not in the registry`, { status: 404 });
    }
    if (!res.ok) throw await this.failure(res, `get blob ${digest}`);
    const announced = Number(res.headers.get('content-length') ?? NaN);
    if (size !== undefined && Number.isFinite(announced) && announced !== size) {
      await discard(res);
      throw this.sizeMismatch(digest, size, announced);
    }
    const total = size ?? (Number.isFinite(announced) ? announced : undefined);
    const hash = createHash('sha256');
    const chunks: Uint8Array[] = [];
    let buffer = total !== undefined ? new Uint8Array(total) : undefined;
    let received = 0;
    // an idle timer, not a total one: a large blob may take long, a stalled one must not
    const idleMs = transport.idleTimeoutMs;
    const idle = setTimeout(
      () => sent.abort(new RegistryError('TIMEOUT', `${this.description}: blob ${digest} stalled for ${idleMs} ms`)),
      idleMs,
    );
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        idle.refresh();
        if (size !== undefined && received + chunk.length > size) {
          // downloads stop at the declared size: more is a registry lying about the blob
          sent.abort();
          throw new RegistryError(
            'BLOB_OVERRUN',
            `${this.description}: blob ${digest} is declared as ${size} bytes but the registry sent more; cut off after ${received} bytes, nothing was kept`,
          );
        }
        hash.update(chunk);
        if (buffer && received + chunk.length <= buffer.length) buffer.set(chunk, received);
        else {
          if (buffer) {
            chunks.push(buffer.subarray(0, received));
            buffer = undefined;
          }
          chunks.push(chunk);
        }
        received += chunk.length;
        onProgress?.(received, total ?? received);
      }
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw networkError(e, 'GET', transport.url(this.path(`blobs/${digest}`)), sent.signal);
    } finally {
      clearTimeout(idle);
    }
    this.checkBlob(digest, 'sha256:' + hash.digest('hex'), received, size);
    if (buffer && received === buffer.length) return buffer;
    return Buffer.concat(buffer ? [buffer.subarray(0, received), ...chunks] : chunks);
  }

  /** A blob read straight into its buffer (blob-download.ts); undefined: use the fetch path. */
  private async downloadDirect(
    digest: string,
    size: number,
    guard: TransferGuard,
    onProgress?: (received: number, total: number) => void,
    parts?: BlobParts,
  ): Promise<Uint8Array | undefined> {
    let direct: Awaited<ReturnType<RegistryTransport['download']>>;
    try {
      direct = await this.transport.download(this.path(`blobs/${digest}`), size, guard, onProgress, parts);
    } catch (e) {
      guard.finish();
      throw e;
    }
    if (!direct) return undefined;
    guard.finish();
    if (direct.kind === 'length') throw this.sizeMismatch(digest, size, direct.announced);
    this.checkBlob(digest, direct.digest, size, size);
    if (parts) parts.found = direct.ranges;
    return direct.bytes;
  }

  private sizeMismatch(digest: string, size: number, announced: number): RegistryError {
    return new RegistryError(
      'DIGEST_MISMATCH',
      `${this.description}: blob ${digest} should be ${size} bytes, the registry serves ${announced}`,
    );
  }

  private checkBlob(digest: string, actual: string, received: number, size: number | undefined): void {
    if (actual !== digest || (size !== undefined && received !== size)) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `${this.description}: blob ${digest} arrived with digest ${actual} (${received} bytes): the content in the registry was altered or corrupted; nothing was kept`,
      );
    }
  }

  async failure(res: Response, what: string): Promise<RegistryError> {
    const detail = await describeFailure(res);
    const code = res.status === 404 ? 'NOT_FOUND' : res.status === 401 || res.status === 403 ? 'AUTH_FAILED' : 'HTTP_ERROR';
    return new RegistryError(code, `${this.description}: ${what} failed with ${res.status}: ${detail}`, { status: res.status });
  }
}

/** The `rel="next"` target of a Link header, resolved against the registry. */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return new URL(m[1], base).toString();
  }
  return undefined;
}
