/**
 * Verification memory, measured where it matters: the peak resident size (VmHWM, via
 * process.resourceUsage().maxRSS) of a `gantry par verify --target` process fed a gzip'd tar
 * whose binary expands to 500 MB. Before the claims were checked first and the binary hashed
 * without being kept, a 6.8 MB input like this one reached 1.1 GB.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { gantryBin } from '../../runtime/paths.js';
import { createPar, providerClaimsJson, publicKeyFromSeed, signClaims, verifyPar } from '../../par/index.js';
import { issuerSeed, rawTar, subjectSeed } from './fixtures.js';

const BINARY_BYTES = 500 * 1024 * 1024;
const MAX_RSS_BYTES = 200 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'gantry-par-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A gzip'd tar: optional claims, then a 500 MB `x86_64-linux.bin` that compresses ~70× (under
 * the ratio cap, so only the order of checks can protect memory). Built from gzip members
 * (a gzip file may be several, read back to back) so writing it costs one small deflate.
 */
function expandingTarGz(claims?: Uint8Array): string {
  const chunk = Buffer.alloc(1024 * 1024);
  const noise = randomBytes(chunk.length);
  for (let i = 0; i < chunk.length; i += 400) chunk[i] = noise[i];
  const parts: Buffer[] = [];
  if (claims) parts.push(gzipSync(rawTar([{ name: 'claims.jwt', data: claims }], { endMarker: false })));
  parts.push(gzipSync(rawTar([{ name: 'x86_64-linux.bin', declaredSize: BINARY_BYTES }], { endMarker: false })));
  const z = gzipSync(chunk, { level: 1 });
  for (let i = 0; i < BINARY_BYTES / chunk.length; i++) parts.push(z);
  parts.push(gzipSync(Buffer.alloc(1024)));
  const file = join(dir, `expanding-${claims ? 'signed' : 'unsigned'}.par.gz`);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** Runs `gantry par verify FILE --target x86_64-linux --json`; returns its answer and peak RSS. */
function verifyInChild(file: string): Promise<{ code: string; maxRssBytes: number }> {
  const hook = join(dir, 'peak-rss.mjs');
  writeFileSync(hook, "process.on('exit', () => process.stderr.write(`\\nPEAK_RSS_KB=${process.resourceUsage().maxRSS}\\n`));\n");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', hook, gantryBin(), 'par', 'verify', file, '--target', 'x86_64-linux', '--json'],
      { timeout: 120_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const peak = /PEAK_RSS_KB=(\d+)/.exec(stderr);
        if (!peak) return reject(new Error(`no peak RSS reported (${err?.message}): ${stderr}`));
        let code = '';
        try {
          code = JSON.parse(stdout).code;
        } catch {
          code = /PAR_[A-Z_]+/.exec(stdout + stderr)?.[0] ?? '';
        }
        if (process.env.GANTRY_SHOW_RSS) process.stderr.write(`${file}: ${code}, peak RSS ${peak[1]} kB\n`);
        resolve({ code, maxRssBytes: Number(peak[1]) * 1024 });
      },
    );
  });
}

describe('verification memory', () => {
  it('an unsigned 500 MB-expanding tar.gz with --target stays under 200 MB and is PAR_UNSIGNED', async () => {
    const r = await verifyInChild(expandingTarGz());
    expect(r.code).toBe('PAR_UNSIGNED');
    expect(r.maxRssBytes).toBeLessThan(MAX_RSS_BYTES);
  }, 180_000);

  it('genuine signed claims replayed over a 500 MB substitute binary: PAR_HASH_MISMATCH under 200 MB', async () => {
    // claims are public: an attacker can pair a trusted signature with any bytes; they must be
    // hashed before they are kept
    const signed = signClaims(
      providerClaimsJson({
        issuer: publicKeyFromSeed(issuerSeed),
        subject: publicKeyFromSeed(subjectSeed),
        name: 'p',
        vendor: 'v',
        revision: 1,
        hashes: { 'x86_64-linux': createHash('sha256').update('the real library').digest('hex').toUpperCase() },
      }),
      issuerSeed,
    );
    const r = await verifyInChild(expandingTarGz(Buffer.from(signed)));
    expect(r.code).toBe('PAR_HASH_MISMATCH');
    expect(r.maxRssBytes).toBeLessThan(MAX_RSS_BYTES);
  }, 180_000);

  it('a valid tar.gz whose binary is over 64 MiB (not kept while hashing) is extracted after verification, byte for byte', async () => {
    const binary = new Uint8Array(70 * 1024 * 1024);
    const noise = randomBytes(binary.length / 64);
    for (let i = 0; i < noise.length; i++) binary[i * 64] = noise[i];
    const archive = await createPar({
      name: 'big',
      vendor: 'v',
      revision: 1,
      issuerSeed,
      subjectSeed,
      binaries: { 'x86_64-linux': binary },
      format: 'tar.gz',
    });
    const verified = await verifyPar(archive, { target: 'x86_64-linux' });
    expect(verified.binary!.length).toBe(binary.length);
    expect(Buffer.compare(Buffer.from(verified.binary!), Buffer.from(binary))).toBe(0);
  }, 60_000);
});
