/**
 * Large blob transfers on their fast paths (blobs >= 1 MiB are read straight into their buffer,
 * bodies go out through node:http) against a real docker-registry: over HTTPS with a custom CA,
 * with basic and bearer auth, a blob altered on disk, a redirect to another origin (which must
 * not receive the registry's credentials), and a download cut or stalled part-way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { DistributionClient } from '../../registry/distribution/client.js';
import { sha256Digest } from '../../registry/digest.js';
import { selfSignedCert, startRegistry, startTokenServer, type RegistryServer, type TokenServer } from '../support/registry.js';
import { freePort } from '../support/ports.js';

const MiB = 1024 * 1024;

function blobFile(reg: RegistryServer, digest: string): string {
  return join(reg.storageDir, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');
}

/** Watches the direct download path: a fall-back to fetch would round-trip the bytes just as well. */
function watchDirect(client: DistributionClient): { used: number } {
  const seen = { used: 0 };
  const download = client.transport.download.bind(client.transport);
  client.transport.download = async (...args) => {
    const got = await download(...args);
    if (got) seen.used++;
    return got;
  };
  return seen;
}

async function roundTrip(client: DistributionClient, bytes: Buffer): Promise<void> {
  const digest = sha256Digest(bytes);
  const progress: number[] = [];
  const direct = watchDirect(client);
  await client.putBlob(digest, bytes);
  const back = await client.getBlob(digest, bytes.length, (received) => progress.push(received));
  expect(Buffer.compare(Buffer.from(back), bytes)).toBe(0);
  expect(progress.at(-1)).toBe(bytes.length);
  expect(direct.used).toBe(1);
}

async function listen(server: Server): Promise<number> {
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((r) => server.close(() => r()));
}

describe('large blobs over HTTPS and with auth', () => {
  const started: Array<{ stop(): Promise<void> }> = [];
  let cert: ReturnType<typeof selfSignedCert>;
  beforeAll(() => {
    cert = selfSignedCert();
  });
  afterAll(async () => {
    for (const s of started.reverse()) await s.stop();
    cert?.cleanup();
  });

  it('round-trips a 3 MiB blob over HTTPS with a custom CA', async () => {
    const reg = await startRegistry({ tls: { certificate: cert.certificate, key: cert.key } });
    started.push(reg);
    await roundTrip(new DistributionClient(reg.host, 'tls/big', { caFile: cert.certificate }), randomBytes(3 * MiB));
  });

  it('round-trips with basic auth and behind a token server', async () => {
    const basic = await startRegistry({ basicAuth: { user: 'ada', password: 's3cret' } });
    started.push(basic);
    await roundTrip(
      new DistributionClient(basic.host, 'basic/big', {
        plainHttpHosts: [basic.host],
        credentials: { username: 'ada', password: 's3cret' },
      }),
      randomBytes(2 * MiB),
    );
    const tokens: TokenServer = await startTokenServer({ grace: 'hopper' });
    started.push(tokens);
    const reg = await startRegistry({
      token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
    });
    started.push(reg);
    const client = new DistributionClient(reg.host, 'token/big', {
      plainHttpHosts: [reg.host, tokens.host],
      credentials: { username: 'grace', password: 'hopper' },
    });
    await roundTrip(client, randomBytes(2 * MiB));
    // a pull-only client learns the scheme before its first (direct) blob GET
    const bytes = randomBytes(2 * MiB);
    await client.putBlob(sha256Digest(bytes), bytes);
    const reader = new DistributionClient(reg.host, 'token/big', {
      plainHttpHosts: [reg.host, tokens.host],
      credentials: { username: 'grace', password: 'hopper' },
    });
    const direct = watchDirect(reader);
    expect(Buffer.compare(Buffer.from(await reader.getBlob(sha256Digest(bytes), bytes.length)), bytes)).toBe(0);
    expect(direct.used).toBe(1);
  });
});

describe('large blob downloads from an anonymous registry', () => {
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.stop());

  it('refuses a blob altered on disk, and one served at another size', async () => {
    const client = new DistributionClient(reg.host, 'direct/altered', { plainHttpHosts: [reg.host] });
    const bytes = randomBytes(2 * MiB);
    const digest = sha256Digest(bytes);
    await client.putBlob(digest, bytes);
    const file = blobFile(reg, digest);
    const altered = Buffer.from(readFileSync(file));
    altered[MiB] ^= 0xff;
    writeFileSync(file, altered);
    await expect(client.getBlob(digest, bytes.length)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringMatching(/altered or corrupted/),
    });
    await expect(client.getBlob(digest, bytes.length + 1)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringMatching(/should be \d+ bytes/),
    });
  });

  it('follows a redirect to another origin without sending it the credentials, and fails a download cut or stalled part-way', async () => {
    const bytes = randomBytes(2 * MiB);
    const digest = sha256Digest(bytes);
    await new DistributionClient(reg.host, 'direct/redirect', { plainHttpHosts: [reg.host] }).putBlob(digest, bytes);

    // the "CDN" another origin serves blobs from; it records what it was sent and can cut a body short
    const cdnSeen: IncomingHttpHeaders[] = [];
    let next: 'whole' | 'cut' | 'stall' = 'whole';
    const cdn = createServer((req, res) => {
      cdnSeen.push(req.headers);
      const how = next;
      next = 'whole';
      res.writeHead(200, { 'content-length': String(bytes.length), 'content-type': 'application/octet-stream' });
      if (how === 'whole') return res.end(bytes);
      res.write(bytes.subarray(0, MiB / 2));
      if (how === 'cut') setTimeout(() => res.destroy(), 50); // a stalled one is ended by the client (or by close() below)
    });
    const cdnPort = await listen(cdn);
    // the registry's front: asks for basic auth, passes everything to the registry except blob GETs, which it redirects
    const frontSeen: IncomingHttpHeaders[] = [];
    const front = createServer((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('ada:s3cret').toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="front"', 'content-length': '0' });
        return res.end();
      }
      if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) {
        frontSeen.push(req.headers);
        res.writeHead(307, { location: `http://127.0.0.1:${cdnPort}/cdn/${digest}`, 'content-length': '0' });
        return res.end();
      }
      const up = request(
        {
          host: '127.0.0.1',
          port: Number(reg.host.split(':')[1]),
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: reg.host },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    const frontPort = await listen(front);
    try {
      const frontHost = `127.0.0.1:${frontPort}`;
      const client = new DistributionClient(frontHost, 'direct/redirect', {
        plainHttpHosts: [frontHost, `127.0.0.1:${cdnPort}`],
        credentials: { username: 'ada', password: 's3cret' },
        maxRetries: 0,
        idleTimeoutMs: 400,
      });
      expect(Buffer.compare(Buffer.from(await client.getBlob(digest, bytes.length)), bytes)).toBe(0);
      expect(frontSeen).toHaveLength(1);
      expect(frontSeen[0].authorization).toMatch(/^Basic /);
      expect(cdnSeen).toHaveLength(1);
      expect(cdnSeen[0].authorization).toBeUndefined();

      next = 'cut';
      await expect(client.getBlob(digest, bytes.length)).rejects.toMatchObject({
        code: 'UNREACHABLE',
        message: expect.stringMatching(/of 2097152 bytes/),
      });
      next = 'stall';
      await expect(client.getBlob(digest, bytes.length)).rejects.toMatchObject({
        code: 'TIMEOUT',
        message: expect.stringMatching(/stalled for 400 ms after \d+ of 2097152 bytes/),
      });
    } finally {
      await close(front);
      await close(cdn);
    }
  });
});
