/**
 * The npm packages only the emulator uses are optional dependencies, so a production install
 * (`npm ci --omit=dev --omit=optional`, as in the image that runs the controller and the
 * agent) leaves them out. Starting the emulator there fails on the first missing one; this
 * turns Node's "Cannot find package" into an error that says what to install.
 */
import { GantryError } from '../runtime/errors.js';

/** package.json's optionalDependencies: imported by validation.ts, patch.ts and table.ts. */
export const EMULATOR_PACKAGES: readonly string[] = ['ajv', 'ajv-formats', 'fast-json-patch', 'jsonpath-plus'];

/** The package a "module not found" error names (`@scope/name` or `name`), if any. */
function missingPackage(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const m = /Cannot find (?:package|module) '([^']+)'/.exec(String((err as Error).message));
  if (!m) return undefined;
  const parts = m[1].split('/');
  return m[1].startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * `err` as the error a person can act on when it says one of the emulator's packages is not
 * installed; undefined for any other error (which then goes on as it is).
 */
export function emulatorDependencyError(err: unknown): GantryError | undefined {
  const pkg = missingPackage(err);
  if (pkg === undefined || !EMULATOR_PACKAGES.includes(pkg)) return undefined;
  return new GantryError(
    'APISERVER_DEPENDENCY_MISSING',
    `the API emulator needs the npm package ${pkg}, which is not installed: its packages (${EMULATOR_PACKAGES.join(', ')}) ` +
      'are optional dependencies, which `npm install --omit=optional` leaves out; ' +
      'install them with `npm install --include=optional` where gantry is installed',
    { cause: err },
  );
}
