/**
 * Where Gantry's own entry points live on disk. Child processes (the provider host, the
 * standalone API emulator, the CLI in tests) are always started from the built `dist/` tree,
 * so the same path works whether the parent runs from sources (vitest) or from `dist/`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The repository (package) root: the nearest folder above this file with a package.json. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('gantry: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  cachedRoot = dir;
  return dir;
}

/** Absolute path of a built entry point, e.g. distEntry('agent/host/main') → …/dist/agent/host/main.js */
export function distEntry(relativeWithoutExtension: string): string {
  const file = join(packageRoot(), 'dist', relativeWithoutExtension + '.js');
  if (!existsSync(file)) throw new Error(`gantry: ${file} is not built; run \`npm run build\``);
  return file;
}

/** The `gantry` launcher script, for tests that run the CLI as a user would. */
export function gantryBin(): string {
  return join(packageRoot(), 'bin', 'gantry.js');
}
