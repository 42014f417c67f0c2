/**
 * wasmCloud's own crates against Gantry, both directions (docs/par.md "Interoperability"):
 * test/interop/par-rs on crates.io's provider-archive 0.16.2 + wascap 0.16.2, built and cached
 * by scripts/interop-par-rs.sh, reads what `gantry par create` writes (tar, tar.gz: identical
 * claims and a valid signature; zip: refused, the fact `par create`'s notice tells users), and
 * `gantry par` (the CLI as a process) verifies, inspects, pushes and pulls what the crate
 * writes, through a real registry under Gantry's and wasmCloud's media types. Tampered and
 * re-signed crate archives are refused with their own codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { OCI_MANIFEST, WASMCLOUD_CONFIG, WASMCLOUD_LAYER } from '../../registry/index.js';
import { sha256Digest } from '../../registry/digest.js';
import { gantryIn, type Run } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';

const script = join(import.meta.dirname, '../../scripts/interop-par-rs.sh');
const hasCargo = spawnSync('cargo', ['--version']).status === 0;
const skip =
  process.env.GANTRY_SKIP_INTEROP === '1'
    ? 'GANTRY_SKIP_INTEROP=1'
    : hasCargo
      ? undefined
      : 'cargo is not on PATH, so wasmCloud crates cannot be built (scripts/setup.sh; https://rustup.rs)';
if (skip) console.warn(`test/interop/par-crate: skipped: ${skip}`);

interface CrateView {
  ok: boolean;
  error?: string;
  /** create: the file written (the crate appends .gz when compressing a name without it) */
  file?: string;
  name?: string;
  vendor?: string;
  capid?: string | null;
  version?: string | null;
  revision?: number | null;
  issuer?: string;
  subject?: string;
  targetHashes?: Record<string, string>;
  loadedTargets?: string[];
  signatureValid?: boolean;
  expired?: boolean;
  cannotUseYet?: boolean;
}

let crateBin: string;
let dir: string;
let home: string;
let reg: RegistryServer;
let issuer: string;
let otherIssuer: string;
let subject: string;
const libs = { 'x86_64-linux': '', 'aarch64-linux': '' };
const hashOf: Record<string, string> = {};

const gantry = (...args: string[]): Promise<Run> => gantryIn(dir, home, args);
const json = (r: Run) => {
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
};
/** The crate's view of an archive (exit 0) or its refusal (exit 1, `{ok:false, error}`). */
function crate(...args: string[]): { code: number; view: CrateView } {
  const r = spawnSync(crateBin, args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`par-rs ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return { code: r.status, view: JSON.parse(r.stdout) };
}
function crateCreate(out: string, targets: string[], opts: { compress?: boolean; issuerSeed?: string } = {}): string {
  const args = ['create', out, '--name', 'Crate KV', '--vendor', 'wasmCloud', '--rev', '3', '--ver', '0.16.2'];
  for (const t of targets) args.push('--target', `${t}=${libs[t as keyof typeof libs]}`);
  args.push('--issuer-seed', opts.issuerSeed ?? 'issuer.nk', '--subject-seed', 'subject.nk');
  if (opts.compress) args.push('--compress');
  const { code, view } = crate(...args);
  expect(view).toMatchObject({ ok: true });
  expect(code).toBe(0);
  return view.file!;
}

beforeAll(async () => {
  if (skip) return;
  // warm: a no-op; stale (main.rs or Cargo.lock newer than the binary): rebuilt first
  crateBin = execFileSync('bash', [script], { encoding: 'utf8' }).trim().split('\n').pop()!;
  dir = mkdtempSync(join(tmpdir(), 'gantry-par-crate-'));
  home = join(dir, 'home');
  mkdirSync(home);
  for (const t of Object.keys(libs) as Array<keyof typeof libs>) {
    const bytes = randomBytes(40_000);
    libs[t] = join(dir, `${t}.so`);
    writeFileSync(libs[t], bytes);
    hashOf[t] = createHash('sha256').update(bytes).digest('hex').toUpperCase();
  }
  issuer = (await gantry('keys', 'generate', '--type', 'account', '--out', 'issuer.nk')).stdout.trim();
  otherIssuer = (await gantry('keys', 'generate', '--type', 'account', '--out', 'other.nk')).stdout.trim();
  subject = (await gantry('keys', 'generate', '--type', 'service', '--out', 'subject.nk')).stdout.trim();
  expect(issuer).toMatch(/^A[A-Z2-7]{55}$/);
  expect(subject).toMatch(/^V[A-Z2-7]{55}$/);
  reg = await startRegistry();
}, 900_000);
afterAll(async () => {
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function gantryCreate(out: string, format: string): Promise<Run> {
  return gantry(
    ...['par', 'create', '--name', 'Gantry KV', '--vendor', 'Acme', '--capid', 'wascap:keyvalue', '--version', '1.2.3'],
    ...['--revision', '7', '--issuer', 'issuer.nk', '--subject', 'subject.nk', '--format', format, '-o', out],
    ...['--binary', `x86_64-linux=${libs['x86_64-linux']}`, '--binary', `aarch64-linux=${libs['aarch64-linux']}`],
  );
}

describe.skipIf(skip)('Gantry → provider-archive 0.16.2', () => {
  it.each([
    ['tar.gz', 'kv.par.gz'],
    ['tar', 'kv.tar'],
  ])('the crate loads a %s that gantry par create wrote, with identical claims, hashes and a valid signature', async (format, out) => {
    expect((await gantryCreate(out, format)).code).toBe(0);
    const ours = json(await gantry('par', 'inspect', out, '--json'));
    expect(ours).toMatchObject({ format, valid: true });
    const { code, view } = crate('inspect', out);
    expect(view).toEqual({
      ok: true,
      name: 'Gantry KV',
      vendor: 'Acme',
      // the crate's claims type has no capid, but the signed payload keeps ours
      capid: 'wascap:keyvalue',
      version: '1.2.3',
      revision: 7,
      issuer,
      subject,
      targetHashes: hashOf,
      loadedTargets: ['aarch64-linux', 'x86_64-linux'],
      signatureValid: true,
      expired: false,
      cannotUseYet: false,
    });
    expect(code).toBe(0);
    expect(ours).toMatchObject({
      name: view.name,
      vendor: view.vendor,
      version: view.version,
      revision: view.revision,
      hashes: view.targetHashes,
    });
  });

  it('the crate refuses a zip: its tar reader reads the zip signature as a tar header (what par create tells zip users)', async () => {
    expect((await gantryCreate('kv.par', 'zip')).code).toBe(0);
    expect(json(await gantry('par', 'verify', 'kv.par', '--json', '--issuer', issuer))).toMatchObject({ valid: true, format: 'zip' });
    const { code, view } = crate('inspect', 'kv.par');
    expect(view.ok).toBe(false);
    // the tar reader parses the zip's first bytes as a tar header; which complaint it makes about the
    // checksum field depends on the bytes there (the claims' random jti, times): both say the same
    expect(view.error).toMatch(/^numeric field (did not have utf-8 text|was not a number): .* when getting cksum for PK\u0003\u0004/s);
    expect(code).toBe(1);
  });
});

describe.skipIf(skip)('provider-archive 0.16.2 → Gantry', () => {
  const cases: Array<[string, string[], boolean]> = [
    ['plain, one target', ['x86_64-linux'], false],
    ['plain, two targets', ['x86_64-linux', 'aarch64-linux'], false],
    ['compressed, one target', ['x86_64-linux'], true],
    ['compressed, two targets', ['x86_64-linux', 'aarch64-linux'], true],
  ];
  it.each(cases)(
    'gantry par verify and inspect read an archive the crate wrote (%s) with the same claims',
    async (label, targets, compress) => {
      const file = crateCreate(`crate-${label.replace(/\W+/g, '-')}.par`, targets, { compress });
      expect(file.endsWith('.gz')).toBe(compress);
      const theirs = crate('inspect', file).view;
      const verified = json(await gantry('par', 'verify', file, '--json', '--issuer', issuer));
      const want = Object.fromEntries(targets.map((t) => [t, hashOf[t]]));
      expect(verified).toMatchObject({
        valid: true,
        format: compress ? 'tar.gz' : 'tar',
        name: 'Crate KV',
        vendor: 'wasmCloud',
        capid: null,
        version: '0.16.2',
        revision: 3,
        issuer,
        subject,
      });
      expect(Object.fromEntries(Object.entries(verified.targets).map(([t, v]) => [t, (v as { sha256: string }).sha256]))).toEqual(want);
      expect(theirs.targetHashes).toEqual(want);
      const inspected = json(await gantry('par', 'inspect', file, '--json'));
      expect(inspected).toMatchObject({ signature: 'valid', valid: true, problem: null, hashes: want, missingTargets: [] });
      expect([inspected.issuer, inspected.subject, inspected.name, inspected.revision]).toEqual([
        theirs.issuer,
        theirs.subject,
        theirs.name,
        theirs.revision,
      ]);
    },
  );

  it('a crate archive pushed by gantry par push pulls byte for byte, and the crate reads the pulled file', async () => {
    const file = crateCreate('pushed.par', ['x86_64-linux', 'aarch64-linux'], { compress: true });
    const ref = `${reg.host}/interop/crate-gantry-types`;
    const pushed = json(await gantry('par', 'push', file, ref, '--plain-http', '--trusted-issuer', issuer, '--json'));
    expect(pushed).toMatchObject({ revision: 3 });
    const revs = json(await gantry('par', 'revisions', ref, '--plain-http', '--json'));
    expect(revs).toMatchObject([{ revision: 3, version: '0.16.2', name: 'Crate KV', issuer, capid: null }]);
    const pulled = json(await gantry('par', 'pull', ref, '--plain-http', '--trusted-issuer', issuer, '-o', 'pulled.par.gz', '--json'));
    expect(pulled).toMatchObject({ revision: 3, issuer, version: '0.16.2' });
    expect(readFileSync(join(dir, 'pulled.par.gz')).equals(readFileSync(join(dir, file)))).toBe(true);
    expect(crate('inspect', 'pulled.par.gz').view).toMatchObject({ ok: true, signatureValid: true, issuer });
  });

  it.each([
    ['compressed', true],
    ['plain', false],
  ])(
    'a %s crate archive laid out as wash pushes it (wasmCloud media types) is listed and pulled by the gantry CLI',
    async (label, compress) => {
      const file = crateCreate(`wash-${label}.par`, ['x86_64-linux'], { compress });
      const repo = `interop/wash-${label}`;
      const digest = await pushAsWash(repo, readFileSync(join(dir, file)), '0.16.2');
      const ref = `${reg.host}/${repo}`;
      const revs = json(await gantry('par', 'revisions', ref, '--plain-http', '--json'));
      expect(revs).toMatchObject([{ revision: 3, digest, version: '0.16.2', name: 'Crate KV', issuer }]);
      expect(Object.keys(revs[0].targets)).toEqual(['x86_64-linux']);
      const out = `wash-${label}-pulled.par`;
      const pulled = await gantry(
        'par',
        'pull',
        ref,
        '--plain-http',
        '--trusted-issuer',
        issuer,
        '--target',
        'x86_64-linux',
        '-o',
        out,
        '--json',
      );
      expect(json(pulled)).toMatchObject({ revision: 3, digest, issuer, targets: ['x86_64-linux'] });
      expect(readFileSync(join(dir, out)).equals(readFileSync(join(dir, file)))).toBe(true);
      // trust is enforced on these too
      const untrusted = await gantry('par', 'pull', ref, '--plain-http', '--trusted-issuer', otherIssuer, '-o', 'never.par');
      expect(untrusted.code).not.toBe(0);
      expect(untrusted.stderr).toContain('PAR_UNTRUSTED_ISSUER');
      expect(existsSync(join(dir, 'never.par'))).toBe(false);
    },
  );
});

describe.skipIf(skip)('tampered and re-signed crate archives', () => {
  it.each([
    ['plain', false],
    ['compressed', true],
  ])(
    'a %s crate archive with one flipped byte in a binary is PAR_HASH_MISMATCH for Gantry (and refused by the crate)',
    async (label, compress) => {
      const file = crateCreate(`tamper-${label}.par`, ['x86_64-linux'], { compress });
      const original = readFileSync(join(dir, file));
      const tar = compress ? gunzipSync(original) : original;
      const lib = readFileSync(libs['x86_64-linux']);
      const at = tar.indexOf(lib);
      expect(at).toBeGreaterThan(512);
      tar[at + 1000] ^= 0x01;
      const bad = `tampered-${label}.par${compress ? '.gz' : ''}`;
      writeFileSync(join(dir, bad), compress ? gzipSync(tar) : tar);
      const verify = await gantry('par', 'verify', bad, '--json', '--issuer', issuer);
      expect(JSON.parse(verify.stdout)).toMatchObject({ valid: false, code: 'PAR_HASH_MISMATCH' });
      expect(verify.code).toBe(1);
      const push = await gantry('par', 'push', bad, `${reg.host}/interop/tampered-${label}`, '--plain-http', '--trusted-issuer', issuer);
      expect(push.code).not.toBe(0);
      expect(push.stderr).toContain('PAR_HASH_MISMATCH');
      expect(crate('inspect', bad).view.error).toBe("File hash and verify hash do not match for 'x86_64-linux'");
    },
  );

  it("a forged claims signature: the crate's try_load still loads it (only wascap's validate_token sees it), Gantry refuses PAR_SIGNATURE_INVALID", async () => {
    const file = crateCreate('forged.par', ['x86_64-linux']);
    const tar = readFileSync(join(dir, file));
    // claims.jwt is the first member (its data at 512); change one signature character in place
    const size = Number.parseInt(tar.subarray(124, 136).toString().replace(/\0.*$/s, '').trim(), 8);
    const jwt = tar.subarray(512, 512 + size).toString();
    expect(jwt.split('.')).toHaveLength(3);
    const at = 512 + size - 5;
    tar[at] = tar[at] === 0x41 ? 0x42 : 0x41;
    writeFileSync(join(dir, 'forged-sig.par'), tar);
    const theirs = crate('inspect', 'forged-sig.par');
    expect(theirs.view).toMatchObject({ ok: true, signatureValid: false, issuer });
    const verify = await gantry('par', 'verify', 'forged-sig.par', '--json');
    expect(JSON.parse(verify.stdout)).toMatchObject({ valid: false, code: 'PAR_SIGNATURE_INVALID' });
    expect(verify.code).toBe(1);
  });

  it('the same binaries and subject re-signed by another issuer are PAR_UNTRUSTED_ISSUER when trust is set (valid without)', async () => {
    const file = crateCreate('resigned.par', ['x86_64-linux'], { compress: true, issuerSeed: 'other.nk' });
    expect(crate('inspect', file).view).toMatchObject({ ok: true, signatureValid: true, issuer: otherIssuer, subject });
    expect(json(await gantry('par', 'verify', file, '--json'))).toMatchObject({ valid: true, issuer: otherIssuer });
    const verify = await gantry('par', 'verify', file, '--json', '--issuer', issuer);
    expect(JSON.parse(verify.stdout)).toMatchObject({ valid: false, code: 'PAR_UNTRUSTED_ISSUER' });
    expect(verify.code).toBe(1);
    const push = await gantry('par', 'push', file, `${reg.host}/interop/resigned`, '--plain-http', '--trusted-issuer', issuer);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('PAR_UNTRUSTED_ISSUER');
  });
});

/** Push as `wash push` lays a provider out: an empty wasmCloud config, one wasmCloud layer, a semver tag. */
async function pushAsWash(repo: string, par: Buffer, tag: string): Promise<string> {
  const base = `http://${reg.host}/v2/${repo}`;
  const config = Buffer.from('{}');
  for (const blob of [config, par]) {
    const started = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    expect(started.status).toBe(202);
    const loc = new URL(started.headers.get('location')!, `http://${reg.host}`);
    loc.searchParams.set('digest', sha256Digest(blob));
    expect((await fetch(loc, { method: 'PUT', body: blob })).status).toBe(201);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: WASMCLOUD_CONFIG, digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: WASMCLOUD_LAYER, digest: sha256Digest(par), size: par.length }],
  });
  const put = await fetch(`${base}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
  expect(put.status).toBe(201);
  return sha256Digest(Buffer.from(manifest));
}
