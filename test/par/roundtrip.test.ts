/**
 * create → inspect → verify for zip, tar and tar.gz, one to many targets, 0 bytes to 64 MiB;
 * insert keeps the other targets valid; what we write is readable by real tar/unzip tools.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPar, insertTarget, inspectPar, publicKeyFromSeed, verifyPar, type ParFormat } from '../../par/index.js';
import { issuerSeed, refusal, subjectSeed } from './fixtures.js';

const FORMATS: ParFormat[] = ['zip', 'tar', 'tar.gz'];
const issuer = publicKeyFromSeed(issuerSeed);
const subject = publicKeyFromSeed(subjectSeed);
const tmp = mkdtempSync(join(tmpdir(), 'gantry-par-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex').toUpperCase();
}

/** Compressible about 2:1 but not trivially, like a real binary (random halves, zero halves). */
function binaryOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(randomBytes(size));
  for (let off = 256; off < size; off += 512) out.fill(0, off, Math.min(off + 256, size));
  if (size > 0) out[0] = seed & 0xff;
  return out;
}

const base = { name: 'Key Value', vendor: 'Acme', capid: 'wascap:keyvalue', version: '1.2.3', revision: 7, issuerSeed, subjectSeed };

describe.each(FORMATS)('%s round trip', (format) => {
  it('one target: create → inspect → verify', async () => {
    const bin = binaryOf(10_000, 1);
    const bytes = await createPar({ ...base, binaries: { 'x86_64-linux': bin }, format });
    const info = await inspectPar(bytes);
    expect(info.format).toBe(format);
    expect(info.signature).toBe('valid');
    expect(info.problem).toBeNull();
    expect(info.claims).toMatchObject({
      name: 'Key Value',
      vendor: 'Acme',
      capid: 'wascap:keyvalue',
      version: '1.2.3',
      revision: 7,
      issuer,
      subject,
    });
    expect(info.targets['x86_64-linux']).toMatchObject({ sha256: sha(bin), size: 10_000, hashMatches: true });
    const par = await verifyPar(bytes, { trustedIssuers: [issuer] });
    expect(par.format).toBe(format);
    expect(par.claims.hashes).toEqual({ 'x86_64-linux': sha(bin) });
    // claims are written with wascap's names
    const payload = JSON.parse(Buffer.from(par.jwt.split('.')[1], 'base64url').toString());
    expect(payload.wascap).toMatchObject({ target_hashes: { 'x86_64-linux': sha(bin) }, rev: 7, ver: '1.2.3', capid: 'wascap:keyvalue' });
    expect(payload.wascap_revision).toBe(3);
  });

  it('many targets including an empty binary and world.wasm; target selection returns only that binary', async () => {
    const binaries: Record<string, Uint8Array> = {
      'x86_64-linux': binaryOf(70_000, 2),
      'aarch64-linux': binaryOf(513, 3),
      'x86_64-macos': new Uint8Array(0),
      'aarch64-macos': binaryOf(512, 4),
      'world.wasm': binaryOf(100, 5),
    };
    const bytes = await createPar({ ...base, binaries, format, configSchema: { type: 'object' } });
    const par = await verifyPar(bytes);
    expect(Object.keys(par.targets).sort()).toEqual(Object.keys(binaries).sort());
    for (const [t, b] of Object.entries(binaries)) expect(par.targets[t]).toEqual({ sha256: sha(b), size: b.length });
    expect(par.claims.configSchema).toEqual({ type: 'object' });
    for (const t of ['aarch64-linux', 'x86_64-macos']) {
      const one = await verifyPar(bytes, { target: t });
      expect(Buffer.from(one.binary!).equals(Buffer.from(binaries[t]))).toBe(true);
    }
    expect((await refusal(verifyPar(bytes, { target: 'riscv64-linux' }))).code).toBe('PAR_TARGET_NOT_FOUND');
  });

  it('insert adds and replaces targets and keeps the others valid', async () => {
    const a = binaryOf(3000, 6);
    const b = binaryOf(4000, 7);
    const c = binaryOf(5000, 8);
    const first = await createPar({ ...base, binaries: { 'x86_64-linux': a }, format });
    const added = await insertTarget(first, { target: 'aarch64-linux', binary: b, issuerSeed });
    let par = await verifyPar(added, { trustedIssuers: [issuer] });
    expect(par.format).toBe(format);
    expect(par.targets).toEqual({ 'aarch64-linux': { sha256: sha(b), size: 4000 }, 'x86_64-linux': { sha256: sha(a), size: 3000 } });
    expect(par.claims).toMatchObject({ name: 'Key Value', revision: 7, subject });
    const replaced = await insertTarget(added, { target: 'x86_64-linux', binary: c, issuerSeed });
    par = await verifyPar(replaced);
    expect(par.targets['x86_64-linux']).toEqual({ sha256: sha(c), size: 5000 });
    expect(par.targets['aarch64-linux']).toEqual({ sha256: sha(b), size: 4000 });
  });
});

describe('interoperability with real tools', () => {
  it('GNU tar lists and extracts our tar and tar.gz byte-identically', async () => {
    const bin = binaryOf(20_000, 9);
    for (const format of ['tar', 'tar.gz'] as const) {
      const file = join(tmp, `p.${format}`);
      writeFileSync(file, await createPar({ ...base, binaries: { 'x86_64-linux': bin }, format }));
      const list = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
      expect(list).toEqual(['claims.jwt', 'x86_64-linux.bin']);
      const out = execFileSync('tar', ['-xOf', file, 'x86_64-linux.bin'], { maxBuffer: 1 << 20 });
      expect(sha(out)).toBe(sha(bin));
    }
  });

  it('unzip tests our zip and extracts the binary byte-identically', async () => {
    const bin = binaryOf(20_000, 10);
    const file = join(tmp, 'p.zip');
    writeFileSync(file, await createPar({ ...base, binaries: { 'x86_64-linux': bin } }));
    expect(execFileSync('unzip', ['-t', file], { encoding: 'utf8' })).toMatch(/No errors detected/);
    expect(sha(execFileSync('unzip', ['-p', file, 'x86_64-linux.bin'], { maxBuffer: 1 << 20 }))).toBe(sha(bin));
  });

  it('reads a zip written by Info-ZIP (deflated members)', async () => {
    const bin = binaryOf(50_000, 11);
    const src = await createPar({ ...base, binaries: { 'x86_64-linux': bin }, format: 'tar' });
    const dir = mkdtempSync(join(tmp, 'x-'));
    writeFileSync(join(dir, 'p.tar'), src);
    execFileSync('tar', ['-xf', 'p.tar'], { cwd: dir });
    execFileSync('zip', ['-q', '-X', 'p.zip', 'claims.jwt', 'x86_64-linux.bin'], { cwd: dir });
    const { readFileSync } = await import('node:fs');
    const par = await verifyPar(new Uint8Array(readFileSync(join(dir, 'p.zip'))));
    expect(par.format).toBe('zip');
    expect(par.targets['x86_64-linux'].sha256).toBe(sha(bin));
  });
});

describe('64 MiB binaries', () => {
  const big = binaryOf(64 * 1024 * 1024, 12);
  const bigHash = sha(big);

  it.each(['zip', 'tar.gz'] as ParFormat[])('%s: create → verify → select the target', async (format) => {
    const bytes = await createPar({ ...base, binaries: { 'x86_64-linux': big, 'aarch64-linux': binaryOf(1000, 13) }, format });
    const par = await verifyPar(bytes);
    expect(par.targets['x86_64-linux']).toEqual({ sha256: bigHash, size: big.length });
    const one = await verifyPar(bytes, { target: 'x86_64-linux' });
    expect(one.binary!.length).toBe(big.length);
    expect(sha(one.binary!)).toBe(bigHash);
  });
});
