/**
 * oras v1.3.6 (scripts/interop-tools.sh, built from Go modules), an OCI client Gantry's
 * authors did not write, against a real registry (Debian docker-registry): it reads what
 * `gantry par push` wrote, byte for byte, and the transparency log's artifacts; a genuine
 * archive it pushes with Gantry's media types pulls with Gantry; and everything else it can
 * push — a forged summary, wrong media types, unsigned, tampered, re-tagged or untrusted
 * archives — is refused by the Gantry CLI with that attack's own code.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPar, verifyPar } from '../../par/index.js';
import { sha256Digest } from '../../registry/digest.js';
import { GANTRY_ARTIFACT_TYPE, GANTRY_CONFIG, GANTRY_LAYER } from '../../registry/media-types.js';
import { configOf } from '../../registry/summary.js';
import { packageRoot } from '../../runtime/paths.js';
import { gantryIn, type Run } from '../support/gantry-cli.js';
import { oras } from '../support/interop-tools.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { conformance, newSigner, type Signer } from '../registry/fixtures.js';

const tool = oras();
let reg: RegistryServer;
let work: string;
let signer: Signer;

const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 60_000);

/** oras as a user runs it, in `cwd` (its layer titles are the file names given), with a HOME of its own. */
function orasIn(cwd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(tool.bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: work } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function orasOk(cwd: string, args: string[]): Promise<string> {
  const r = await orasIn(cwd, args);
  expect(r.code, `oras ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

function archive(revision: number, opts: { version?: string; format?: 'tar' | 'tar.gz'; by?: Signer } = {}): Promise<Uint8Array> {
  const s = opts.by ?? signer;
  return createPar({
    name: 'Interop KV',
    vendor: 'Gantry interop tests',
    capid: 'wasmcloud:keyvalue',
    ...(opts.version === undefined ? {} : { version: opts.version }),
    revision,
    issuerSeed: s.issuerSeed,
    subjectSeed: s.subjectSeed,
    // a marker the tampering test finds inside an uncompressed tar
    binaries: { 'x86_64-linux': Buffer.from(`linux binary r${revision} MARKER-${revision}`) },
    format: opts.format ?? 'tar.gz',
  });
}

/** A fresh directory holding `files`, for oras to push from (its titles are these names). */
function dirWith(files: Record<string, Uint8Array | string>): string {
  const dir = mkdtempSync(join(work, 'push-'));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}

/** The genuine config blob `gantry par push` would write for these archive bytes. */
async function genuineConfig(bytes: Uint8Array): Promise<Record<string, unknown>> {
  const verified = await verifyPar(bytes);
  return { ...configOf(verified, { digest: sha256Digest(bytes), size: bytes.length }) };
}

/** oras push of one archive layer and one config blob, with Gantry's media types unless told otherwise. */
async function orasPushArchive(
  ref: string,
  bytes: Uint8Array,
  config: Record<string, unknown> | undefined,
  types: { layer?: string; config?: string } = {},
): Promise<void> {
  const dir = dirWith({ 'archive.par.gz': bytes, 'config.json': JSON.stringify(config ?? {}) });
  await orasOk(dir, [
    'push',
    '--plain-http',
    '--artifact-type',
    GANTRY_ARTIFACT_TYPE,
    ...(config ? ['--config', `config.json:${types.config ?? GANTRY_CONFIG}`] : []),
    ref,
    `archive.par.gz:${types.layer ?? GANTRY_LAYER}`,
  ]);
}

async function digestOf(ref: string): Promise<string> {
  return (await orasOk(work, ['resolve', '--plain-http', ref])).trim();
}

function pull(ref: string, extra: string[]): Promise<Run> {
  return gantry(['par', 'pull', ref, '--plain-http', '-o', join(mkdtempSync(join(work, 'pull-')), 'out.par'), ...extra]);
}

function expectRefused(r: Run, code: string): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(new RegExp(`\\b${code}\\b`));
}

beforeAll(async () => {
  if (tool.missing) return;
  reg = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-oras-'));
  signer = newSigner();
});
afterAll(async () => {
  await reg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(tool.missing)(`oras reads what Gantry writes (${tool.missing ?? tool.bin})`, () => {
  it.each([
    ['tar.gz', '.par.gz'],
    ['tar', '.par'],
  ] as const)('oras pulls a %s archive `gantry par push` wrote, byte for byte, under a title without spaces', async (format, ext) => {
    const ref = `${reg.host}/oras/read-${format.replace('.', '')}`;
    const bytes = await archive(1, { version: '1.2.0', format });
    const file = join(work, `pushed-${format}${ext}`);
    writeFileSync(file, bytes);
    const pushed = await gantry(['par', 'push', file, ref, '--plain-http', '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);

    const manifest = JSON.parse(await orasOk(work, ['manifest', 'fetch', '--plain-http', `${ref}:rev-1`]));
    expect(manifest).toMatchObject({ artifactType: GANTRY_ARTIFACT_TYPE, config: { mediaType: GANTRY_CONFIG } });
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]).toMatchObject({ mediaType: GANTRY_LAYER, digest: sha256Digest(bytes), size: bytes.length });
    const title: string = manifest.layers[0].annotations['org.opencontainers.image.title'];
    // <name>-<version>.par[.gz]: a file name a shell and every OCI tool handle, saying what it holds
    expect(title).toMatch(new RegExp(`^[A-Za-z0-9._-]+-1\\.2\\.0${ext.replace(/\./g, '\\.')}$`));

    const out = mkdtempSync(join(work, 'oras-out-'));
    await orasOk(work, ['pull', '--plain-http', `${ref}:rev-1`, '-o', out]);
    expect(readdirSync(out)).toEqual([title]);
    expect(Buffer.compare(readFileSync(join(out, title)), Buffer.from(bytes))).toBe(0);
  });

  it("oras pulls the transparency log's entry and checkpoint artifacts, a titled file each", async () => {
    const repo = 'oras/logged';
    const ref = `${reg.host}/${repo}`;
    const keyFile = join(work, 'log.key');
    expect((await gantry(['log', 'keygen', reg.host, '-o', keyFile])).code).toBe(0);
    const file = join(work, 'logged.par.gz');
    writeFileSync(file, await archive(1, { version: '1.0.0' }));
    const pushed = await gantry(['par', 'push', file, ref, '--plain-http', '--json', '--log-key', keyFile]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = JSON.parse(pushed.stdout).digest as string;

    const entryDir = mkdtempSync(join(work, 'entry-'));
    await orasOk(work, ['pull', '--plain-http', `${ref}:tlog.entry.0`, '-o', entryDir]);
    const entryFiles = readdirSync(entryDir);
    expect(entryFiles).toHaveLength(1);
    const entry = readFileSync(join(entryDir, entryFiles[0]), 'utf8');
    expect(entry).toMatch(new RegExp(`^gantry-log-entry/v1\nrevision 1\ndigest ${digest}\nissuer ${signer.issuer}\n`));

    const cpDir = mkdtempSync(join(work, 'checkpoint-'));
    await orasOk(work, ['pull', '--plain-http', `${ref}:tlog.checkpoint.1`, '-o', cpDir]);
    const cpFiles = readdirSync(cpDir);
    expect(cpFiles).toHaveLength(1);
    const note = readFileSync(join(cpDir, cpFiles[0]), 'utf8');
    expect(note.startsWith(`${reg.host}/${repo}\n1\n`)).toBe(true);
    expect(note).toMatch(/\n\n— \S+ \S+\n$/);
    expect(entryFiles[0]).not.toBe(cpFiles[0]);
  });
});

describe.skipIf(tool.missing)(`what oras pushes, Gantry pulls only when it is genuine (${tool.missing ?? tool.bin})`, () => {
  it('a genuine archive and config pushed by oras with Gantry media types lists and pulls with Gantry, byte for byte', async () => {
    const ref = `${reg.host}/oras/genuine`;
    const bytes = await archive(1, { version: '1.0.0' });
    await orasPushArchive(`${ref}:rev-1`, bytes, await genuineConfig(bytes));
    const listed = await gantry(['par', 'revisions', ref, '--plain-http', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ revision: 1, version: '1.0.0', name: 'Interop KV' }]);
    const out = join(mkdtempSync(join(work, 'genuine-')), 'out.par.gz');
    const pulled = await gantry(['par', 'pull', ref, '--plain-http', '--revision', '1', '-o', out]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(out), Buffer.from(bytes))).toBe(0);
  });

  it('attack: a genuine archive under a forged summary ("Evil KV" 9.9.9 evil:cap) is SUMMARY_MISMATCH, and never shown', async () => {
    const ref = `${reg.host}/oras/forged`;
    const bytes = await archive(1, { version: '1.0.0' });
    const forged = { ...(await genuineConfig(bytes)), name: 'Evil KV', version: '9.9.9', capid: 'evil:cap' };
    await orasPushArchive(`${ref}:rev-1`, bytes, forged);
    const refused = await pull(ref, ['--revision', '1']);
    expectRefused(refused, 'SUMMARY_MISMATCH');
    expect(refused.stderr).toMatch(/summary field "name" says "Evil KV" but the signed claims say "Interop KV"/);
    const byDigest = await pull(ref, ['--digest', await digestOf(`${ref}:rev-1`)]);
    expectRefused(byDigest, 'SUMMARY_MISMATCH');
    // the listing refuses too; the forged values appear only inside the refusal, never as the archive's
    const listed = await gantry(['par', 'revisions', ref, '--plain-http', '--json']);
    expectRefused(listed, 'SUMMARY_MISMATCH');
    for (const forgedValue of ['Evil KV', '9.9.9', 'evil:cap']) expect(listed.stdout).not.toContain(forgedValue);
  });

  it('attack: wrong media types — an unknown layer type is NOT_AN_ARCHIVE; a non-summary under the config type is BAD_MANIFEST', async () => {
    const bytes = await archive(1, { version: '1.0.0' });
    const layerRef = `${reg.host}/oras/unknown-layer`;
    await orasPushArchive(`${layerRef}:rev-1`, bytes, await genuineConfig(bytes), { layer: 'application/octet-stream' });
    expectRefused(await pull(layerRef, ['--digest', await digestOf(`${layerRef}:rev-1`)]), 'NOT_AN_ARCHIVE');
    const layerList = await gantry(['par', 'revisions', layerRef, '--plain-http', '--json']);
    expect(JSON.parse(layerList.stdout || '[]')).toEqual([]);

    // an OCI image config where Gantry's summary belongs
    const configRef = `${reg.host}/oras/other-config`;
    await orasPushArchive(`${configRef}:rev-1`, bytes, { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    expectRefused(await pull(configRef, ['--digest', await digestOf(`${configRef}:rev-1`)]), 'BAD_MANIFEST');
  });

  it('attack: a forged summary under another config media type is never read as a summary: the signed claims are shown', async () => {
    const ref = `${reg.host}/oras/other-config-type`;
    const bytes = await archive(1, { version: '1.0.0' });
    const forged = { ...(await genuineConfig(bytes)), name: 'Evil KV', version: '9.9.9', capid: 'evil:cap' };
    await orasPushArchive(`${ref}:rev-1`, bytes, forged, { config: 'application/vnd.oci.image.config.v1+json' });
    const listed = await gantry(['par', 'revisions', ref, '--plain-http', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ revision: 1, name: 'Interop KV', version: '1.0.0', capid: 'wasmcloud:keyvalue' }]);
    expect(listed.stdout).not.toContain('Evil KV');
  });

  it('attack: an unsigned archive pushed by oras is PAR_UNSIGNED', async () => {
    const ref = `${reg.host}/oras/unsigned`;
    await orasPushArchive(`${ref}:rev-1`, readFileSync(conformance('wascap', 'synthetic', 'neg_no_claims.par')), undefined);
    expectRefused(await pull(ref, ['--digest', await digestOf(`${ref}:rev-1`)]), 'PAR_UNSIGNED');
  });

  it('attack: a byte flipped in a signed binary (tar), pushed by oras with the genuine config, is PAR_HASH_MISMATCH', async () => {
    const ref = `${reg.host}/oras/tampered`;
    const bytes = Buffer.from(await archive(1, { version: '1.0.0', format: 'tar' }));
    const config = await genuineConfig(bytes);
    const at = bytes.indexOf('MARKER-1');
    expect(at).toBeGreaterThan(0);
    bytes[at] ^= 0x01;
    await orasPushArchive(`${ref}:rev-1`, bytes, { ...config, archive: { digest: sha256Digest(bytes), size: bytes.length } });
    expectRefused(await pull(ref, ['--revision', '1']), 'PAR_HASH_MISMATCH');
  });

  it('attack: an archive signed by an issuer the puller does not trust is PAR_UNTRUSTED_ISSUER', async () => {
    const ref = `${reg.host}/oras/untrusted`;
    const bytes = await archive(1, { version: '1.0.0', by: newSigner() });
    await orasPushArchive(`${ref}:rev-1`, bytes, await genuineConfig(bytes));
    expectRefused(await pull(ref, ['--revision', '1', '--trusted-issuer', signer.issuer]), 'PAR_UNTRUSTED_ISSUER');
  });

  it('attack: rev-1 re-tagged by oras to revision 2 is not revision 1 (REVISION_NOT_FOUND) and the log says TLOG_TAG_MISMATCH', async () => {
    const ref = `${reg.host}/oras/retagged`;
    const keyFile = join(work, 'retag.key');
    const made = await gantry(['log', 'keygen', reg.host, '-o', keyFile]);
    expect(made.code).toBe(0);
    const vkey = made.stdout.trim();
    // no claims version, so no version tag still names revision 1
    const digests: string[] = [];
    for (const r of [1, 2]) {
      const file = join(work, `retag-${r}.par.gz`);
      writeFileSync(file, await archive(r));
      const pushed = await gantry(['par', 'push', file, ref, '--plain-http', '--json', '--log-key', keyFile]);
      expect(pushed.code, pushed.stderr).toBe(0);
      digests.push(JSON.parse(pushed.stdout).digest);
    }
    await orasOk(work, ['tag', '--plain-http', `${ref}@${digests[1]}`, 'rev-1']);
    expect(await digestOf(`${ref}:rev-1`)).toBe(digests[1]);
    const refused = await pull(ref, ['--revision', '1']);
    expectRefused(refused, 'REVISION_NOT_FOUND');
    const verified = await gantry(['log', 'verify', ref, '--plain-http', '--key', vkey, '--json']);
    expect(verified.code).toBe(1);
    expect(JSON.parse(verified.stdout).problems.map((p: { code: string }) => p.code)).toEqual(['TLOG_TAG_MISMATCH']);
  });
});
