/**
 * The emulator's packages are optional dependencies: where they are not installed, starting
 * it says which package is missing and how to install it (APISERVER_DEPENDENCY_MISSING), and
 * other errors pass through untouched. The missing packages are real: Node's resolver fails
 * to find them, from a directory without node_modules or through a resolve hook that looks
 * for them from such a directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EMULATOR_PACKAGES, emulatorDependencyError } from '../../apiserver/index.js';
import { distEntry, gantryBin, packageRoot } from '../../runtime/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-emulator-deps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * What the (built) mapper makes of the error Node throws importing `specifier` from a module
 * outside any node_modules tree: run in a child, since the test runner resolves bare names
 * from the project root and its modules have no native import().
 */
function mappedImportError(specifier: string): { code: string; message: string; usage: boolean; keepsCause: boolean } | null {
  const file = join(dir, `imports-${specifier.replace(/\W/g, '_')}.mjs`);
  writeFileSync(file, `import ${JSON.stringify(specifier)};\n`);
  const script = [
    `import { emulatorDependencyError } from ${JSON.stringify(pathToFileURL(distEntry('apiserver/dependencies')).href)};`,
    `try { await import(${JSON.stringify(pathToFileURL(file).href)}); console.log('resolved'); }`,
    'catch (e) { const m = emulatorDependencyError(e);',
    '  console.log(JSON.stringify(m ? { code: m.code, message: m.message, usage: m.usage, keepsCause: m.cause === e } : null)); }',
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.stdout).not.toBe('resolved\n');
  return JSON.parse(r.stdout);
}

describe("the emulator's optional dependencies", () => {
  it('a missing emulator package becomes APISERVER_DEPENDENCY_MISSING, naming it and how to install', () => {
    for (const pkg of EMULATOR_PACKAGES) {
      const err = mappedImportError(pkg);
      expect(err).toMatchObject({ code: 'APISERVER_DEPENDENCY_MISSING', usage: false, keepsCause: true });
      expect(err!.message).toContain(`needs the npm package ${pkg}, which is not installed`);
      expect(err!.message).toContain('npm install --include=optional');
    }
  });

  it('any other error is not taken for one: another missing package, a missing file, a failure', () => {
    expect(mappedImportError('gantry-no-such-package')).toBeNull();
    expect(mappedImportError('./no-such-file.mjs')).toBeNull();
    expect(emulatorDependencyError(new Error("Cannot find package 'ajv'"))).toBeUndefined();
    expect(emulatorDependencyError(undefined)).toBeUndefined();
  });

  it('the list matches package.json: each is an optional dependency', async () => {
    const pkg = (await import(pathToFileURL(join(packageRoot(), 'package.json')).href, { with: { type: 'json' } })).default;
    expect(Object.keys(pkg.optionalDependencies ?? {}).sort()).toEqual([...EMULATOR_PACKAGES].sort());
    for (const name of EMULATOR_PACKAGES) expect(pkg.dependencies?.[name]).toBeUndefined();
  });

  it('`gantry sandbox apiserver` without them exits 1 with that message', () => {
    const hook = join(packageRoot(), 'test', 'apiserver', 'fixtures', 'without-emulator-packages.mjs');
    const r = spawnSync(
      process.execPath,
      ['--import', pathToFileURL(hook).href, gantryBin(), 'sandbox', 'apiserver', '--port', '0', '--state-dir', join(dir, 'state')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.stderr).toMatch(/^gantry: the API emulator needs the npm package [a-z-]+, which is not installed: /);
    expect(r.stderr).toContain('npm install --include=optional');
    expect(r.status).toBe(1);
  });
});
