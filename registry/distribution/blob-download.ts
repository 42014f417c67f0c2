/**
 * Large blob downloads straight into their final buffer. A blob GET of known size opens its
 * own HTTP/1.1 connection (TCP or TLS) with the socket's `onread` hook: the kernel copies the
 * body directly into a buffer allocated once from the expected size, and each read is hashed
 * as it lands — on a second thread where one is free (hash-thread.ts), so receiving and hashing
 * overlap. Through `fetch` the same 64 MiB cost about twice the CPU (a fresh 64 KiB chunk
 * per read, a web-stream promise per chunk, then a second copy into the result) — measured in
 * bench/registry.ts and docs/storage.md.
 *
 * Deliberately narrow: only a `200` with a `Content-Length` and no transfer or content coding
 * is read here, and redirects are followed (credentials only to the registry's own origin).
 * Everything else — 401, 404, 5xx, chunked bodies, a connection that fails before answering —
 * comes back as `unhandled` so the caller repeats the request on the fetch path, which owns
 * auth challenges, retries and error reporting. A body cut or stalled part-way fails here.
 */
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { BlobParts } from '../backend.js';
import { RegistryError } from '../errors.js';
import { type RangeDigest, type StreamHash, streamHash } from './hash-thread.js';
import type { TransferGuard } from './transfer-guard.js';

export interface BlobDownloadRequest {
  url: URL;
  /** sent as is (e.g. authorization); values must be single-line */
  headers: Record<string, string>;
  /** the size the manifest promised: the buffer is allocated once at this size */
  size: number;
  ca?: string;
  /** until the response head has arrived */
  headerTimeoutMs: number;
  /** longest pause between two reads of the body */
  idleTimeoutMs: number;
  /** the request's deadline and minimum rate: its failure fails the download (no fallback) */
  guard: TransferGuard;
  onProgress?: (received: number, total: number) => void;
  /** parts of the body to hash in the same pass (hash-thread.ts) */
  ranges?: RangeRequest;
}

export type RangeRequest = Pick<BlobParts, 'locate'>;

export type BlobDownloadResult =
  | { kind: 'body'; bytes: Buffer; digest: string; ranges: RangeDigest[] }
  | { kind: 'redirect'; location: URL }
  /** the registry announced another size than the manifest's */
  | { kind: 'length'; announced: number }
  /** not for this path: the caller asks again through fetch */
  | { kind: 'unhandled'; why: string; status?: number };

const MAX_HEAD_BYTES = 64 * 1024;
/** how far into the body a RangeRequest looks for its parts */
const MAX_LOCATE_BYTES = 64 * 1024;
const SPARE = Buffer.allocUnsafe(64 * 1024); // reads past the expected end land here (and fail)

/** One GET, one connection (closed after): the body read into a buffer of `size` bytes and hashed. */
export function downloadBlob(req: BlobDownloadRequest): Promise<BlobDownloadResult> {
  return new Promise<BlobDownloadResult>((resolve, reject) => new BlobDownload(req, resolve, reject).start());
}

/** The request bytes of the GET, or why it cannot be sent this way (a header that is not one line). */
function requestBytes(url: URL, headers: Record<string, string>): Buffer | { why: string } {
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    'User-Agent: gantry',
    'Accept: */*',
    'Accept-Encoding: identity',
    'Connection: close',
  ];
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) return { why: `header ${k} is not a single line` };
    lines.push(`${k}: ${v}`);
  }
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

type HeadVerdict = { kind: 'more' } | { kind: 'done'; result: BlobDownloadResult } | { kind: 'body'; start: number };

/**
 * What the response head in `head` says: `more` until it is complete; a result when the
 * answer ends here (a redirect, another size, anything this path does not read); or where the
 * body of a `200` of exactly `size` bytes starts.
 */
function readHead(head: Buffer, url: URL, size: number): HeadVerdict {
  const end = head.indexOf('\r\n\r\n');
  if (end < 0) {
    if (head.length === MAX_HEAD_BYTES) return { kind: 'done', result: { kind: 'unhandled', why: 'response head larger than 64 KiB' } };
    return { kind: 'more' };
  }
  const done = (result: BlobDownloadResult) => ({ kind: 'done' as const, result });
  const [statusLine, ...fields] = head.toString('latin1', 0, end).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) return done({ kind: 'unhandled', why: `not an HTTP/1.1 answer: ${statusLine.slice(0, 40)}` });
  const code = Number(status[1]);
  const headers = new Map<string, string[]>();
  for (const f of fields) {
    const colon = f.indexOf(':');
    if (colon <= 0) continue;
    const name = f.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), f.slice(colon + 1).trim()]);
  }
  const one = (name: string) => headers.get(name)?.[0];
  if (code >= 300 && code < 400 && code !== 304 && one('location')) {
    try {
      return done({ kind: 'redirect', location: new URL(one('location')!, url) });
    } catch {
      return done({ kind: 'unhandled', why: 'redirect to an invalid location', status: code });
    }
  }
  if (code !== 200) return done({ kind: 'unhandled', why: `status ${code}`, status: code });
  const lengths = [...new Set(headers.get('content-length') ?? [])];
  if (
    lengths.length !== 1 ||
    !/^\d+$/.test(lengths[0]) ||
    headers.has('transfer-encoding') ||
    (one('content-encoding') ?? 'identity') !== 'identity'
  ) {
    return done({ kind: 'unhandled', why: 'body without a single Content-Length or with a coding', status: code });
  }
  const announced = Number(lengths[0]);
  if (announced !== size) return done({ kind: 'length', announced });
  return { kind: 'body', start: end + 4 };
}

/** One download's state: the head accumulates in its own buffer, then the kernel writes the body in place. */
class BlobDownload {
  private readonly head = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  private headLen = 0;
  private body: Buffer | undefined;
  private received = 0;
  /** the body's buffer and its digest, computed as it fills (hash-thread.ts) */
  private hash: StreamHash | undefined;
  private settled = false;
  private locating: RangeRequest | undefined;
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly where: string;

  constructor(
    private readonly req: BlobDownloadRequest,
    private readonly resolve: (r: BlobDownloadResult) => void,
    private readonly reject: (e: Error) => void,
  ) {
    this.where = `GET ${req.url.origin}${req.url.pathname}`;
    this.locating = req.ranges;
  }

  start(): void {
    const { url, headerTimeoutMs } = this.req;
    // a header timeout until the head is in, then an idle timer refreshed by every read
    this.timer = setTimeout(() => this.finish({ kind: 'unhandled', why: `no answer within ${headerTimeoutMs} ms` }), headerTimeoutMs);
    const { guard } = this.req;
    if (guard.failure) return this.finish(guard.failure);
    guard.signal.addEventListener('abort', () => this.finish(guard.failure!), { once: true });
    const request = requestBytes(url, this.req.headers);
    if (!Buffer.isBuffer(request)) return this.finish({ kind: 'unhandled', why: request.why });
    const options = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      onread: { buffer: () => this.readBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    };
    if (url.protocol === 'https:') {
      const servername = isIP(options.host) ? undefined : options.host;
      this.socket = connectTls({ ...options, servername, ca: this.req.ca, ALPNProtocols: ['http/1.1'] }, () => this.socket!.write(request));
    } else {
      this.socket = connectTcp(options, () => this.socket!.write(request));
    }
    this.socket.on('error', (e) => this.onSocketError(e));
    this.socket.on('close', () => this.onClose());
  }

  private finish(result: BlobDownloadResult | Error): void {
    if (!this.settle()) return;
    this.hash?.abort();
    if (result instanceof Error) this.reject(result);
    else this.resolve(result);
  }

  /** Stops the timers and the connection; false when that already happened. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
    return true;
  }

  /** Where the next read lands: the rest of the head buffer, then the body in place (past its end: SPARE). */
  private readBuffer(): Uint8Array {
    const { body, received } = this;
    return !body ? this.head.subarray(this.headLen) : received < this.req.size ? body.subarray(received) : SPARE;
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    if (this.settled) return false;
    if (!this.body) {
      this.headLen += n;
      this.onHead();
      return true;
    }
    if (buf === SPARE || this.received + n > this.req.size) {
      this.finish(new RegistryError('DIGEST_MISMATCH', `${this.where} sent more than the ${this.req.size} bytes it announced`));
      return false;
    }
    this.timer?.refresh();
    this.received += n;
    this.onBody();
    return true;
  }

  private onHead(): void {
    const { size, idleTimeoutMs } = this.req;
    const verdict = readHead(this.head.subarray(0, this.headLen), this.req.url, size);
    if (verdict.kind === 'more') return;
    if (verdict.kind === 'done') return this.finish(verdict.result);
    this.hash = streamHash(size, this.locating !== undefined);
    const body = this.hash.buffer;
    this.body = body;
    this.req.guard.measure(() => this.received);
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () =>
        this.finish(new RegistryError('TIMEOUT', `${this.where} stalled for ${idleTimeoutMs} ms after ${this.received} of ${size} bytes`)),
      idleTimeoutMs,
    );
    const first = this.head.subarray(verdict.start, this.headLen);
    if (first.length > size)
      return this.finish(new RegistryError('DIGEST_MISMATCH', `${this.where} sent more than the ${size} bytes it announced`));
    first.copy(body, 0);
    this.received = first.length;
    this.onBody();
  }

  private onBody(): void {
    const { size } = this.req;
    // the parts are named before the bytes are handed to the hash: a thread that sees the end sees them too
    if (this.locating) this.locate();
    this.hash!.advance(this.received);
    this.req.onProgress?.(this.received, size);
    if (this.received !== size) return;
    const bytes = this.body!;
    // the connection closes now; the digest settles once the hashing thread has read the last bytes
    if (this.settle()) this.hash!.digest().then(({ digest, ranges }) => this.resolve({ kind: 'body', bytes, digest, ranges }), this.reject);
  }

  /** Hands the parts a RangeRequest names to the hash, once it names them (or the bytes it may look at run out). */
  private locate(): void {
    const found = this.locating!.locate(this.body!.subarray(0, Math.min(this.received, MAX_LOCATE_BYTES)));
    if (!found && this.received < MAX_LOCATE_BYTES && this.received < this.req.size) return;
    this.locating = undefined;
    for (const [start, end] of found ?? []) this.hash!.hashRange(start, end);
  }

  private onSocketError(e: Error): void {
    const { size } = this.req;
    // no answer yet: let the fetch path try (it retries and names the failure); mid-body: a failure
    if (!this.body) this.finish({ kind: 'unhandled', why: e.message });
    else
      this.finish(
        new RegistryError('UNREACHABLE', `${this.where} broke after ${this.received} of ${size} bytes: ${e.message}`, { cause: e }),
      );
  }

  private onClose(): void {
    if (!this.body) this.finish({ kind: 'unhandled', why: 'connection closed before an answer' });
    else this.finish(new RegistryError('UNREACHABLE', `${this.where} closed after ${this.received} of ${this.req.size} bytes`));
  }
}
