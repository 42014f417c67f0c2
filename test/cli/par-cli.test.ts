/**
 * The `gantry keys` and `gantry par` commands as a user runs them: the built CLI spawned with
 * node (npm test builds dist/ first), real files in a temp dir, exit statuses 0/1/2 and --json.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { generateSeed, publicKeyFromSeed, keyTypeOf } from '../../par/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-par-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gantry(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [gantryBin(), ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const f = (name: string): string => join(dir, name);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').toUpperCase();
const linux = new Uint8Array(randomBytes(20_000));
const arm = new Uint8Array(randomBytes(7_000));
let issuerKey = '';

beforeAll(() => {
  if (!existsSync(join(packageRoot(), 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is not built: run `npm run build` (npm test does)');
  writeFileSync(f('linux.so'), linux);
  writeFileSync(f('arm.so'), arm);
  const issuerSeed = generateSeed('account');
  writeFileSync(f('issuer.nk'), issuerSeed + '\n', { mode: 0o600 });
  writeFileSync(f('service.nk'), generateSeed('service') + '\n', { mode: 0o600 });
  issuerKey = publicKeyFromSeed(issuerSeed);
});

describe('gantry keys', () => {
  it('generate --out writes a 0600 seed and prints its public key; public prints it again', () => {
    const r = gantry('keys', 'generate', '--type', 'account', '--out', 'key-account.nk');
    expect(r.status).toBe(0);
    const pub = r.stdout.trim();
    expect(keyTypeOf(pub)).toBe('account');
    expect(statSync(f('key-account.nk')).mode & 0o777).toBe(0o600);
    expect(publicKeyFromSeed(readFileSync(f('key-account.nk'), 'utf8'))).toBe(pub);
    expect(gantry('keys', 'public', 'key-account.nk').stdout.trim()).toBe(pub);
  });

  it.each([
    ['service', 'service'],
    ['module', 'module'],
  ])('generate --type %s makes a %s key', (type, expected) => {
    const r = gantry('keys', 'generate', '--type', type, '--out', `key-${type}.nk`);
    expect(r.status).toBe(0);
    expect(keyTypeOf(r.stdout.trim())).toBe(expected);
  });

  it('refuses an unknown type (2), an existing file (1) and a file that is no seed (1)', () => {
    expect(gantry('keys', 'generate', '--type', 'banana').status).toBe(2);
    const again = gantry('keys', 'generate', '--type', 'account', '--out', 'issuer.nk');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/issuer\.nk.*already exists/);
    expect(publicKeyFromSeed(readFileSync(f('issuer.nk'), 'utf8'))).toBe(issuerKey);
    writeFileSync(f('junk.nk'), 'hello\n');
    const junk = gantry('keys', 'public', 'junk.nk');
    expect(junk.status).toBe(1);
    expect(junk.stderr).toMatch(/junk\.nk/);
  });
});

describe('gantry par', () => {
  it.each(['zip', 'tar', 'tar.gz'])('create (%s) → inspect --json → verify --json', (format) => {
    const out = `kv-${format}.par`;
    const c = gantry(
      'par',
      'create',
      '--name',
      'KV',
      '--vendor',
      'Acme',
      '--capid',
      'wascap:keyvalue',
      '--version',
      '1.0.0',
      '--revision',
      '4',
      '--issuer',
      'issuer.nk',
      '--subject',
      'service.nk',
      '--binary',
      'x86_64-linux=linux.so',
      '--binary',
      'aarch64-linux=arm.so',
      '--format',
      format,
      '-o',
      out,
    );
    expect(c.status, c.stderr).toBe(0);
    const i = gantry('par', 'inspect', out, '--json');
    expect(i.status).toBe(0);
    const info = JSON.parse(i.stdout);
    expect(info).toMatchObject({
      format,
      issuer: issuerKey,
      subject: publicKeyFromSeed(readFileSync(f('service.nk'), 'utf8')),
      name: 'KV',
      vendor: 'Acme',
      capid: 'wascap:keyvalue',
      version: '1.0.0',
      revision: 4,
      expires: null,
      signature: 'valid',
    });
    expect(typeof info.issuedAt).toBe('number');
    expect(info.targets['x86_64-linux']).toMatchObject({ sha256: sha(linux), size: linux.length });
    expect(info.targets['aarch64-linux']).toMatchObject({ sha256: sha(arm), size: arm.length });
    const v = gantry('par', 'verify', out, '--issuer', issuerKey, '--json');
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ valid: true, code: null, format });
    const human = gantry('par', 'inspect', out);
    expect(human.stdout).toMatch(/x86_64-linux\s+20000\s+[0-9A-F]{64}/);
  });

  it('without --subject a service seed is generated next to the output and reused', () => {
    const c = gantry(
      'par',
      'create',
      '--name',
      'A',
      '--vendor',
      'V',
      '--issuer',
      'issuer.nk',
      '--binary',
      'x86_64-linux=linux.so',
      '--expires',
      '30d',
      '-o',
      'auto.par',
    );
    expect(c.status, c.stderr).toBe(0);
    const subject = publicKeyFromSeed(readFileSync(f('auto.service.nk'), 'utf8'));
    expect(statSync(f('auto.service.nk')).mode & 0o777).toBe(0o600);
    const info = JSON.parse(gantry('par', 'inspect', 'auto.par', '--json').stdout);
    expect(info.subject).toBe(subject);
    expect(info.expires - info.issuedAt).toBe(30 * 86400);
    gantry('par', 'create', '--name', 'A', '--vendor', 'V', '--issuer', 'issuer.nk', '--binary', 'x86_64-linux=linux.so', '-o', 'auto.par');
    expect(JSON.parse(gantry('par', 'inspect', 'auto.par', '--json').stdout).subject).toBe(subject);
  });

  it('insert adds a target, re-signs, and keeps the other target valid', () => {
    gantry(
      'par',
      'create',
      '--name',
      'I',
      '--vendor',
      'V',
      '--issuer',
      'issuer.nk',
      '--subject',
      'service.nk',
      '--binary',
      'x86_64-linux=linux.so',
      '-o',
      'ins.tar',
    );
    const r = gantry('par', 'insert', 'ins.tar', '--binary', 'aarch64-linux=arm.so', '--issuer', 'issuer.nk');
    expect(r.status, r.stderr).toBe(0);
    const v = JSON.parse(gantry('par', 'verify', 'ins.tar', '--json').stdout);
    expect(v.valid).toBe(true);
    expect(v.format).toBe('tar');
    expect(v.targets).toEqual({
      'aarch64-linux': { sha256: sha(arm), size: arm.length },
      'x86_64-linux': { sha256: sha(linux), size: linux.length },
    });
    const one = gantry('par', 'verify', 'ins.tar', '--target', 'aarch64-linux');
    expect(one.status).toBe(0);
    expect(one.stdout).toMatch(/VALID/);
  });

  it('verify exits 1 with the code for an untrusted issuer and a tampered archive', () => {
    // its own archive, not one an earlier test left behind
    const made = gantry(
      'par',
      'create',
      '--name',
      'KV',
      '--vendor',
      'Acme',
      '--issuer',
      'issuer.nk',
      '--subject',
      'service.nk',
      '--binary',
      'x86_64-linux=linux.so',
      '--format',
      'tar',
      '-o',
      'verify-me.par',
    );
    expect(made.status, made.stderr).toBe(0);
    const other = gantry('keys', 'generate', '--type', 'account').stdout.split('\n')[0];
    const u = gantry('par', 'verify', 'verify-me.par', '--issuer', other, '--json');
    expect(u.status).toBe(1);
    expect(JSON.parse(u.stdout)).toMatchObject({ valid: false, code: 'PAR_UNTRUSTED_ISSUER' });
    const bytes = readFileSync(f('verify-me.par'));
    const at = bytes.indexOf(Buffer.from(linux.subarray(0, 32)));
    bytes[at + 100] ^= 0xff;
    writeFileSync(f('tampered.par'), bytes);
    const t = gantry('par', 'verify', 'tampered.par');
    expect(t.status).toBe(1);
    expect(t.stderr).toMatch(/tampered\.par.*PAR_HASH_MISMATCH/);
    const i = JSON.parse(gantry('par', 'inspect', 'tampered.par', '--json').stdout);
    expect(i.signature).toBe('valid');
    expect(i.problem.code).toBe('PAR_HASH_MISMATCH');
  });

  it('verify of a file that is no archive or does not exist exits 1 and names it', () => {
    writeFileSync(f('notes.txt'), 'hello world, not an archive');
    const r = gantry('par', 'verify', 'notes.txt', '--json');
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, code: 'PAR_BAD_FORMAT', file: 'notes.txt' });
    const m = gantry('par', 'verify', 'missing.par');
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/missing\.par/);
  });

  it('usage errors exit 2', () => {
    expect(gantry('par', 'verify').status).toBe(2);
    expect(gantry('par', 'verify', 'kv-zip.par', '--issuer', 'not-a-key').status).toBe(2);
    expect(gantry('par', 'verify', 'kv-zip.par', '--issuer', publicKeyFromSeed(readFileSync(f('service.nk'), 'utf8'))).status).toBe(2);
    expect(gantry('par', 'verify', 'kv-zip.par', '--target', 'x86_64-plan9').status).toBe(2);
    expect(
      gantry('par', 'create', '--name', 'x', '--vendor', 'v', '--issuer', 'issuer.nk', '--binary', 'nonsense', '-o', 'u.par').status,
    ).toBe(2);
    expect(
      gantry(
        'par',
        'create',
        '--name',
        'x',
        '--vendor',
        'v',
        '--issuer',
        'issuer.nk',
        '--binary',
        'x86_64-linux=linux.so',
        '--format',
        'rar',
        '-o',
        'u.par',
      ).status,
    ).toBe(2);
    expect(
      gantry(
        'par',
        'create',
        '--name',
        'x',
        '--vendor',
        'v',
        '--issuer',
        'issuer.nk',
        '--binary',
        'x86_64-linux=linux.so',
        '--expires',
        'soon',
        '-o',
        'u.par',
      ).status,
    ).toBe(2);
    expect(gantry('par', 'create', '--name', 'x', '--vendor', 'v').status).toBe(2);
    expect(existsSync(f('u.par'))).toBe(false);
  });

  it('create with a service seed as issuer fails (1) and writes nothing', () => {
    const r = gantry(
      'par',
      'create',
      '--name',
      'x',
      '--vendor',
      'v',
      '--issuer',
      'service.nk',
      '--subject',
      'service.nk',
      '--binary',
      'x86_64-linux=linux.so',
      '-o',
      'w.par',
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/account seed/);
    expect(existsSync(f('w.par'))).toBe(false);
  });

  it('verifies the real upstream archive', () => {
    const fakepay = join(packageRoot(), 'test', 'conformance', 'wascap', 'par', 'fakepay.par.gz');
    const r = gantry(
      'par',
      'verify',
      fakepay,
      '--issuer',
      'ABNLQZLJFBAWP4KJR63PYCA4Y655OZOOHTGRW6FNFGEVUE5RN4PO2RXR',
      '--target',
      'x86_64-linux',
      '--json',
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      valid: true,
      format: 'tar.gz',
      name: 'Fake Payments',
      capid: 'examples:payments',
      revision: 1,
    });
  });
});
