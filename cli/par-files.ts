/**
 * The files `gantry par` reads and writes: binaries and archives read within the PAR limits
 * (exit 1 naming the file when one is too large or unreadable), archives written atomically,
 * the output format and subject seed path from the output name, and PAR errors as exit 1.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_PAR_LIMITS, isValidTarget, ParError, type ParFormat } from '../par/index.js';
import { atomicWrite } from '../registry/index.js';
import { cliError } from './keys.js';

/** `TARGET=PATH` pairs → target → file bytes. */
export function readBinaries(pairs: string[]): Record<string, Uint8Array> {
  if (pairs.length === 0) throw cliError('at least one --binary TARGET=PATH is required', 2);
  const out: Record<string, Uint8Array> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1)
      throw cliError(`--binary ${JSON.stringify(pair)}: expected TARGET=PATH, e.g. x86_64-linux=./libprovider.so`, 2);
    const target = pair.slice(0, eq);
    const path = pair.slice(eq + 1);
    if (!isValidTarget(target)) {
      throw cliError(
        `--binary ${JSON.stringify(pair)}: ${JSON.stringify(target)} is not a target; use <arch>-<os> (e.g. x86_64-linux, aarch64-macos) or world.wasm`,
        2,
      );
    }
    if (target in out) throw cliError(`--binary: target ${target} given twice`, 2);
    out[target] = readInput(path, DEFAULT_PAR_LIMITS.maxEntryBytes, 'binary');
  }
  return out;
}

export function readInput(path: string, max: number, what: string): Uint8Array {
  try {
    const size = statSync(path).size;
    if (size > max) throw cliError(`${path}: ${what} is ${size} bytes, over the ${max}-byte limit`, 1);
    return readFileSync(path); // a Buffer is a Uint8Array: no copy
  } catch (err) {
    if ((err as { exitCode?: number }).exitCode) throw err;
    throw cliError(`${path}: cannot read ${what}: ${(err as Error).message}`, 1);
  }
}

export function readArchive(path: string): Uint8Array {
  // padding and headers on top of the content limit
  return readInput(path, DEFAULT_PAR_LIMITS.maxTotalBytes + 1024 * 1024, 'archive');
}

/** Writes via a temporary file and rename, so a failure never leaves half an archive. */
export function writeAtomically(path: string, data: Uint8Array): void {
  try {
    atomicWrite(path, data);
  } catch (err) {
    throw cliError(`${path}: cannot write archive: ${(err as Error).message}`, 1);
  }
}

/**
 * The format an output name asks for, or undefined when it names none. `.par` names none: the
 * PAR spec's `.par` was a zip, `wash par create` writes a plain tar under it.
 */
export function formatNamedBy(path: string): ParFormat | undefined {
  if (/\.(tar\.gz|tgz|par\.gz|gz)$/i.test(path)) return 'tar.gz';
  if (/\.tar$/i.test(path)) return 'tar';
  if (/\.zip$/i.test(path)) return 'zip';
  return undefined;
}

/**
 * The format `par create` writes: --format, else what the name says, else a plain tar — what
 * `wash par create` writes under `.par`, what current wasmCloud tools read, and (like a stored
 * zip) a format whose binaries a pull with --target reads without a copy. A --format the name
 * contradicts (`--format zip -o kv.par.gz`) is a usage error.
 */
export function createFormat(flag: ParFormat | undefined, out: string): ParFormat {
  const named = formatNamedBy(out);
  if (flag !== undefined && named !== undefined && flag !== named) {
    throw cliError(
      `--format ${flag} contradicts the output name ${JSON.stringify(out)}, which says ${named}; drop --format, or name the output ${FORMAT_EXAMPLES[flag]}`,
      2,
    );
  }
  return flag ?? named ?? 'tar';
}

const FORMAT_EXAMPLES: Record<ParFormat, string> = { zip: 'NAME.zip or NAME.par', tar: 'NAME.par or NAME.tar', 'tar.gz': 'NAME.par.gz' };

/** Said on stderr when create writes a zip: it looks like a PAR, but wasmCloud's current tools refuse it. */
export const ZIP_NOTICE =
  'note: this archive is a zip; current wasmCloud tools (wash, provider-archive ≥ 0.2) read only tar and tar.gz — `--format tar.gz` (or an output name ending in .par.gz) makes one they read\n';

/** Where the generated subject seed goes: next to the archive, named after it. */
export function subjectSeedPath(out: string): string {
  const stem = basename(out).replace(/\.(par\.gz|tar\.gz|tgz|par|zip|tar|gz)$/i, '');
  return join(dirname(out), `${stem}.service.nk`);
}

export function parErrorToCli(file: string, err: unknown): never {
  if (err instanceof ParError) throw cliError(`${file}: ${err.message} [${err.code}]`, 1);
  throw err;
}
