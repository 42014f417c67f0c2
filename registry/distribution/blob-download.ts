/**
 * Large blob downloads straight into their final buffer. A blob GET of known size opens its
 * own HTTP/1.1 connection (TCP or TLS) with the socket's `onread` hook: the kernel copies the
 * body directly into a buffer allocated once from the expected size, and each read is hashed
 * as it lands. Through `fetch` the same 64 MiB cost about twice the CPU (a fresh 64 KiB chunk
 * per read, a web-stream promise per chunk, then a second copy into the result) — measured in
 * bench/registry.ts and docs/storage.md.
 *
 * Deliberately narrow: only a `200` with a `Content-Length` and no transfer or content coding
 * is read here, and redirects are followed (credentials only to the registry's own origin).
 * Everything else — 401, 404, 5xx, chunked bodies, a connection that fails before answering —
 * comes back as `unhandled` so the caller repeats the request on the fetch path, which owns
 * auth challenges, retries and error reporting. A body cut or stalled part-way fails here.
 */
import { createHash } from 'node:crypto';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { RegistryError } from '../errors.js';

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
  onProgress?: (received: number, total: number) => void;
}

export type BlobDownloadResult =
  | { kind: 'body'; bytes: Buffer; digest: string }
  | { kind: 'redirect'; location: URL }
  /** the registry announced another size than the manifest's */
  | { kind: 'length'; announced: number }
  /** not for this path: the caller asks again through fetch */
  | { kind: 'unhandled'; why: string; status?: number };

const MAX_HEAD_BYTES = 64 * 1024;
const SPARE = Buffer.allocUnsafe(64 * 1024); // reads past the expected end land here (and fail)

/** One GET, one connection (closed after): the body read into a buffer of `size` bytes and hashed. */
export function downloadBlob(req: BlobDownloadRequest): Promise<BlobDownloadResult> {
  const { url, size } = req;
  const head = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  let headLen = 0;
  let body: Buffer | undefined;
  let received = 0;
  const hash = createHash('sha256');
  let settled = false;
  let socket: Socket | undefined;

  return new Promise<BlobDownloadResult>((resolve, reject) => {
    const finish = (result: BlobDownloadResult | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const where = `GET ${url.origin}${url.pathname}`;
    // a header timeout until the head is in, then an idle timer refreshed by every read
    let timer = setTimeout(() => finish({ kind: 'unhandled', why: `no answer within ${req.headerTimeoutMs} ms` }), req.headerTimeoutMs);

    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      'User-Agent: gantry',
      'Accept: */*',
      'Accept-Encoding: identity',
      'Connection: close',
    ];
    for (const [k, v] of Object.entries(req.headers)) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) return finish({ kind: 'unhandled', why: `header ${k} is not a single line` });
      lines.push(`${k}: ${v}`);
    }
    const request = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');

    const onHead = (): void => {
      const end = head.subarray(0, headLen).indexOf('\r\n\r\n');
      if (end < 0) {
        if (headLen === MAX_HEAD_BYTES) finish({ kind: 'unhandled', why: 'response head larger than 64 KiB' });
        return;
      }
      const [statusLine, ...fields] = head.toString('latin1', 0, end).split('\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!status) return finish({ kind: 'unhandled', why: `not an HTTP/1.1 answer: ${statusLine.slice(0, 40)}` });
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
        let location: URL;
        try {
          location = new URL(one('location')!, url);
        } catch {
          return finish({ kind: 'unhandled', why: 'redirect to an invalid location', status: code });
        }
        return finish({ kind: 'redirect', location });
      }
      if (code !== 200) return finish({ kind: 'unhandled', why: `status ${code}`, status: code });
      const lengths = [...new Set(headers.get('content-length') ?? [])];
      if (
        lengths.length !== 1 ||
        !/^\d+$/.test(lengths[0]) ||
        headers.has('transfer-encoding') ||
        (one('content-encoding') ?? 'identity') !== 'identity'
      ) {
        return finish({ kind: 'unhandled', why: 'body without a single Content-Length or with a coding', status: code });
      }
      const announced = Number(lengths[0]);
      if (announced !== size) return finish({ kind: 'length', announced });
      body = Buffer.allocUnsafe(size);
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(new RegistryError('TIMEOUT', `${where} stalled for ${req.idleTimeoutMs} ms after ${received} of ${size} bytes`)),
        req.idleTimeoutMs,
      );
      const first = head.subarray(end + 4, headLen);
      if (first.length > size)
        return finish(new RegistryError('DIGEST_MISMATCH', `${where} sent more than the ${size} bytes it announced`));
      first.copy(body, 0);
      hash.update(first);
      received = first.length;
      onBody();
    };

    const onBody = (): void => {
      req.onProgress?.(received, size);
      if (received === size) finish({ kind: 'body', bytes: body!, digest: 'sha256:' + hash.digest('hex') });
    };

    const options = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      onread: {
        // the head accumulates in its own buffer; then the kernel writes the body in place
        buffer: () => (!body ? head.subarray(headLen) : received < size ? body.subarray(received) : SPARE),
        callback: (n: number, buf: Uint8Array): boolean => {
          if (settled) return false;
          if (!body) {
            headLen += n;
            onHead();
            return true;
          }
          if (buf === SPARE || received + n > size) {
            finish(new RegistryError('DIGEST_MISMATCH', `${where} sent more than the ${size} bytes it announced`));
            return false;
          }
          timer.refresh();
          hash.update(buf.subarray(0, n));
          received += n;
          onBody();
          return true;
        },
      },
    };
    if (url.protocol === 'https:') {
      const servername = isIP(options.host) ? undefined : options.host;
      socket = connectTls({ ...options, servername, ca: req.ca, ALPNProtocols: ['http/1.1'] }, () => socket!.write(request));
    } else {
      socket = connectTcp(options, () => socket!.write(request));
    }
    socket.on('error', (e) => {
      // no answer yet: let the fetch path try (it retries and names the failure); mid-body: a failure
      if (!body) finish({ kind: 'unhandled', why: e.message });
      else finish(new RegistryError('UNREACHABLE', `${where} broke after ${received} of ${size} bytes: ${e.message}`, { cause: e }));
    });
    socket.on('close', () => {
      if (!body) finish({ kind: 'unhandled', why: 'connection closed before an answer' });
      else finish(new RegistryError('UNREACHABLE', `${where} closed after ${received} of ${size} bytes`));
    });
  });
}
