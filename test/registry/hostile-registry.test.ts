/**
 * A hostile registry, served from the test itself over loopback HTTP: manifests that declare
 * multi-GiB layers, a blob that never ends, a wasmCloud layer whose claims come first but that
 * goes on for 4 GiB. Each is refused (or listed) having read no more than the caps allow —
 * counted by the bytes the server managed to send — with its own error code, in the store,
 * the controller's resolver and `gantry par pull`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gantryBin } from '../../runtime/paths.js';
import { failureFromError } from '../../controller/providers/archive/resolver.js';
import { registryResolver } from '../../controller/providers/archive/registry-resolver.js';
import { createPar, generateSeed, publicKeyFromSeed, verifyPar } from '../../par/index.js';
import { sha256Digest } from '../../registry/digest.js';
import {
  GANTRY_ARTIFACT_TYPE,
  GANTRY_CONFIG,
  GANTRY_LAYER,
  OCI_MANIFEST,
  openArchiveStore,
  WASMCLOUD_CONFIG,
  WASMCLOUD_LAYER,
} from '../../registry/index.js';
import { configOf } from '../../registry/summary.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const issuerSeed = generateSeed('account');

interface Repo {
  manifest: Buffer;
  blobs: Map<string, (res: ServerResponse) => void>;
}

let server: Server;
let host: string;
const repos = new Map<string, Repo>();
/** bytes written for blob GETs, per repository */
const blobBytes = new Map<string, number>();
let par: Uint8Array;

function manifestFor(
  config: { mediaType: string; bytes: Buffer },
  layer: { mediaType: string; digest: string; size: number },
  gantry: boolean,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(gantry ? { artifactType: GANTRY_ARTIFACT_TYPE } : {}),
      config: { mediaType: config.mediaType, digest: sha256Digest(config.bytes), size: config.bytes.length },
      layers: [layer],
    }),
  );
}

/** Writes `prefix`, then garbage until the client hangs up (or 256 MiB, a safety stop). */
function endless(repo: string, prefix: Uint8Array, headers: Record<string, string>): (res: ServerResponse) => void {
  return (res) => {
    res.writeHead(200, headers);
    const junk = randomBytes(64 * 1024);
    let sent = 0;
    const count = (n: number) => blobBytes.set(repo, (blobBytes.get(repo) ?? 0) + n);
    res.write(prefix);
    count(prefix.length);
    const pump = () => {
      while (!res.destroyed && sent < 256 * MiB) {
        sent += junk.length;
        count(junk.length);
        if (!res.write(junk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('error', () => {});
    pump();
  };
}

function addRepo(
  name: string,
  config: { mediaType: string; bytes: Buffer },
  layer: { mediaType: string; digest: string; size: number },
  serveLayer: (res: ServerResponse) => void,
): string {
  const manifest = manifestFor(config, layer, config.mediaType === GANTRY_CONFIG);
  const blobs = new Map<string, (res: ServerResponse) => void>();
  blobs.set(sha256Digest(config.bytes), (res) => res.writeHead(200, { 'content-length': String(config.bytes.length) }).end(config.bytes));
  blobs.set(layer.digest, serveLayer);
  repos.set(name, { manifest, blobs });
  return sha256Digest(manifest);
}

beforeAll(async () => {
  par = await createPar({
    name: 'hostile',
    vendor: 'tests',
    revision: 1,
    issuerSeed,
    subjectSeed: generateSeed('service'),
    binaries: { 'x86_64-linux': new Uint8Array(randomBytes(4096)) },
    format: 'tar.gz',
  });
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const m = /^\/v2\/(.+)\/(tags\/list|manifests|blobs)(?:\/(.+))?$/.exec(url.pathname);
    const repo = m && repos.get(m[1]);
    if (!m || !repo) return void res.writeHead(404).end();
    if (m[2] === 'tags/list')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: m[1], tags: ['rev-1'] }));
    if (m[2] === 'manifests') {
      res.writeHead(200, {
        'content-type': OCI_MANIFEST,
        'content-length': String(repo.manifest.length),
        'docker-content-digest': sha256Digest(repo.manifest),
      });
      return void res.end(req.method === 'HEAD' ? undefined : repo.manifest);
    }
    const blob = repo.blobs.get(m[3] ?? '');
    if (!blob) return void res.writeHead(404).end();
    blob(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const store = (repo: string) => openArchiveStore(`${host}/${repo}`, { plainHttpRegistries: [host] });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'none', message: '' }),
    (e: { code: string; message: string }) => e,
  );

describe('a hostile registry', () => {
  it('declares an 8 GiB layer: ARCHIVE_TOO_LARGE from the manifest, not one byte of the blob asked for (store, controller, CLI)', async () => {
    const verified = await verifyPar(par);
    const config = Buffer.from(JSON.stringify(configOf(verified, { digest: sha256Digest(par), size: 8 * GiB })));
    const layer = { mediaType: GANTRY_LAYER, digest: sha256Digest(par), size: 8 * GiB };
    const digest = addRepo('huge', { mediaType: GANTRY_CONFIG, bytes: config }, layer, endless('huge', par, {}));

    const err = await refusal(store('huge').pull(digest));
    expect(err.code).toBe('ARCHIVE_TOO_LARGE');
    expect(err.message).toMatch(/8589934592 bytes, over the 268435456-byte limit \(--max-archive-bytes\)/);

    // the controller lists revisions from the config blob and refuses before downloading
    const resolver = registryResolver({ plainHttpRegistries: [host] });
    const failure = failureFromError(
      await refusal(resolver.resolve({ ref: `${host}/huge`, revision: 1, trustedIssuers: [publicKeyFromSeed(issuerSeed)] })),
      `${host}/huge`,
    );
    expect(failure.reason).toBe('ArchiveTooLarge');

    const cli = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [gantryBin(), 'par', 'pull', `${host}/huge`, '--plain-http', '--digest', digest, '-o', '/dev/null', '--max-archive-bytes', '1GiB'],
        { timeout: 30_000 },
        (e, _o, stderr) => resolve({ code: e ? ((e as { code?: number }).code ?? -1) : 0, stderr }),
      );
    });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/ARCHIVE_TOO_LARGE: .*over the 1073741824-byte limit/);
    expect(blobBytes.get('huge') ?? 0).toBe(0);
  });

  it('declares 2 MiB and sends without end: cut off at the declared size (BLOB_OVERRUN), memory flat', async () => {
    const verified = await verifyPar(par);
    const config = Buffer.from(JSON.stringify(configOf(verified, { digest: sha256Digest(par), size: 2 * MiB })));
    const layer = { mediaType: GANTRY_LAYER, digest: sha256Digest(par), size: 2 * MiB };
    // chunked, so no Content-Length gives the lie away before the body
    const digest = addRepo('liar', { mediaType: GANTRY_CONFIG, bytes: config }, layer, endless('liar', par, {}));
    const before = process.memoryUsage().arrayBuffers;
    const err = await refusal(store('liar').pull(digest));
    expect(err.code).toBe('BLOB_OVERRUN');
    expect(err.message).toMatch(/declared as 2097152 bytes but the registry sent more/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * MiB);
    // what the server got out before the hang-up: the declared size plus socket buffers, not its 256 MiB
    await new Promise((r) => setTimeout(r, 200));
    expect(blobBytes.get('liar')!).toBeLessThan(24 * MiB);
  });

  it('a wasmCloud layer declared at 4 GiB is listed from its leading claims; the rest is never read', async () => {
    const config = Buffer.from('{}');
    const layer = { mediaType: WASMCLOUD_LAYER, digest: sha256Digest(par), size: 4 * GiB };
    // ignores Range and keeps sending after the archive: only a prefix may be read
    const digest = addRepo('wasmcloud-huge', { mediaType: WASMCLOUD_CONFIG, bytes: config }, layer, endless('wasmcloud-huge', par, {}));
    const listed = await store('wasmcloud-huge').revisions();
    expect(listed).toEqual([
      expect.objectContaining({
        revision: 1,
        digest,
        summary: expect.objectContaining({ issuer: publicKeyFromSeed(issuerSeed), targets: { 'x86_64-linux': expect.any(Object) } }),
      }),
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect(blobBytes.get('wasmcloud-huge')!).toBeLessThan(24 * MiB);
    // pulling it is another matter: refused from its declared size
    expect((await refusal(store('wasmcloud-huge').pull(digest))).code).toBe('ARCHIVE_TOO_LARGE');
  });
});
