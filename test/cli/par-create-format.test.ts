/**
 * `gantry par create`'s container format as the user sees it (the built CLI spawned): the
 * format from --format or the output name (tar when the name says none), a --format the name
 * contradicts refused before any file is written, and the stderr notice that current wasmCloud
 * tools cannot read a zip — present for zip, absent otherwise, never on --json's stdout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSeed } from '../../par/index.js';
import { gantryBin, packageRoot } from '../../runtime/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-par-create-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gantry(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [gantryBin(), ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const create = (out: string, ...extra: string[]) =>
  gantry(
    'par',
    'create',
    '--name',
    'Gantry KV',
    '--vendor',
    'Acme',
    '--version',
    '1.0.0',
    '--issuer',
    'issuer.nk',
    '--binary',
    'x86_64-linux=lib.so',
    '-o',
    out,
    ...extra,
  );
const formatOf = (file: string): string => JSON.parse(gantry('par', 'inspect', file, '--json').stdout).format;
const NOTICE =
  /current wasmCloud tools \(wash, provider-archive ≥ 0\.2\) read only tar and tar\.gz — `--format tar\.gz` \(or an output name ending in \.par\.gz\) makes one/;

beforeAll(() => {
  if (!existsSync(join(packageRoot(), 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is not built: run `npm run build` (npm test does)');
  writeFileSync(join(dir, 'lib.so'), Buffer.from('a provider binary'));
  writeFileSync(join(dir, 'issuer.nk'), generateSeed('account') + '\n', { mode: 0o600 });
});

describe('par create --format and the output name', () => {
  it.each([
    ['kv.par.gz', 'tar.gz'],
    ['kv.tar.gz', 'tar.gz'],
    ['kv.tgz', 'tar.gz'],
    ['kv.tar', 'tar'],
    ['kv.zip', 'zip'],
    // .par names no format: wash writes a plain tar under it, and current wasmCloud tools read that
    ['kv.par', 'tar'],
    ['kv-noext', 'tar'],
  ])('%s without --format is %s', (out, format) => {
    const r = create(out);
    expect(r.status, r.stderr).toBe(0);
    expect(formatOf(out)).toBe(format);
    expect(r.stdout).toContain(`(${format}, `);
  });

  it.each([
    ['kv-a.par', 'zip'],
    ['kv-b.par', 'tar.gz'],
    ['kv-c.par', 'tar'],
    ['kv-d.par.gz', 'tar.gz'],
    ['kv-e.zip', 'zip'],
  ])('%s --format %s agrees with the name and is written as asked', (out, format) => {
    const r = create(out, '--format', format);
    expect(r.status, r.stderr).toBe(0);
    expect(formatOf(out)).toBe(format);
  });

  it.each([
    ['bad.par.gz', 'zip', 'tar.gz', 'NAME.zip or NAME.par'],
    ['bad.tar', 'tar.gz', 'tar', 'NAME.par.gz'],
    ['bad.zip', 'tar', 'zip', 'NAME.par or NAME.tar'],
  ])('%s --format %s contradicts the name: usage error (2), and nothing is written', (out, flag, named, hint) => {
    const before = readdirSync(dir).sort();
    const r = create(out, '--format', flag);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `--format ${flag} contradicts the output name "${out}", which says ${named}; drop --format, or name the output ${hint}`,
    );
    // neither the archive nor a generated subject seed
    expect(readdirSync(dir).sort()).toEqual(before);
  });
});

describe('the zip notice', () => {
  it('writing a zip says on stderr that wasmCloud tools read only tar/tar.gz and how to make one', () => {
    const r = create('notice.zip');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(NOTICE);
    expect(r.stdout).not.toMatch(/wasmCloud/);
  });

  it.each([
    ['quiet.par.gz', []],
    ['quiet.par', []],
    ['quiet2.par', ['--format', 'tar.gz']],
  ])('%s %j: no notice, stderr empty', (out, extra) => {
    const r = create(out, ...extra);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('--json: stdout is one JSON object, the notice only on stderr', () => {
    const zip = create('json.par', '--format', 'zip', '--json');
    expect(zip.status, zip.stderr).toBe(0);
    expect(zip.stderr).toMatch(NOTICE);
    const parsed = JSON.parse(zip.stdout);
    expect(parsed).toMatchObject({ file: 'json.par', format: 'zip', bytes: expect.any(Number), targets: ['x86_64-linux'] });
    expect(parsed.issuer).toMatch(/^A[A-Z2-7]{55}$/);
    expect(parsed.subject).toMatch(/^V[A-Z2-7]{55}$/);
    const gz = create('json.par.gz', '--json');
    expect(gz.stderr).toBe('');
    expect(JSON.parse(gz.stdout)).toMatchObject({ format: 'tar.gz' });
  });
});
