/**
 * The sequencer's HTTP API (docs/transparency.md "The sequencer"): POST /v1/append and POST
 * /v1/consistent, JSON in and out. Bodies are read up to MAX_REQUEST_BYTES and no further;
 * every refusal is `{code, message}` with the status replyOf() gives it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MAX_REQUEST_BYTES,
  parseAppendRequest,
  parseBody,
  parseConsistentRequest,
  replyOf,
  routeOf,
  SequencerRequestError,
} from './requests.js';
import type { Sequencer } from './service.js';

export interface SequencerServer {
  /** http://HOST:PORT as it listens */
  url: string;
  server: Server;
  /** Starts answering with `seq`; until then every request is 503 (the leases are being taken). */
  serve(seq: Sequencer): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_REQUEST_BYTES)
    return Promise.reject(new SequencerRequestError(413, 'TOO_LARGE', `the request body is over ${MAX_REQUEST_BYTES} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        // stop reading: the rest is never buffered
        req.pause();
        reject(new SequencerRequestError(413, 'TOO_LARGE', `the request body is over ${MAX_REQUEST_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}

async function handle(seq: Sequencer | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const route = routeOf(req.method, req.url);
    const body = parseBody(await readBody(req), req.headers['content-type']);
    if (!seq) throw new SequencerRequestError(503, 'TLOG_SEQUENCER_REFUSED', 'the sequencer is still taking its leases; ask again shortly');
    if (route === 'append') send(res, 200, await seq.append(parseAppendRequest(body)));
    else send(res, 200, await seq.consistent(parseConsistentRequest(body)));
  } catch (e) {
    const r = replyOf(e);
    // a body left unread would hold the connection: close it after the reply
    if (r.status === 413) res.setHeader('connection', 'close');
    send(res, r.status, { code: r.code, message: r.message });
  }
}

/**
 * Listens on HOST:PORT (port 0: any free port) before the sequencer exists, so the URL written
 * into the leases is known and a port in use fails before any lease is taken.
 */
export async function listenSequencer(host: string, port: number): Promise<SequencerServer> {
  let seq: Sequencer | undefined;
  const server = createServer((req, res) => void handle(seq, req, res));
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}`,
    server,
    serve: (s) => {
      seq = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
