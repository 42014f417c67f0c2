/**
 * The state directory is the emulator's alone: the snapshot and journal hold every Secret's
 * data, beside them lie the bearer token, the kubeconfig and the CA's private key. So the
 * directory is 0700 and every file in it 0600, whatever the umask.
 *
 * A directory that already exists with looser modes (made by an older emulator, or by the
 * sandbox launcher's plain mkdir) is tightened rather than refused: it is ours, tightening
 * cannot expose anything, and refusing would only break `sandbox up` on an existing state dir.
 * What was loose is logged, since whatever it held may already have been read. Refused are the
 * cases tightening cannot fix: a directory or state file owned by another user (we could not
 * chmod it, and its owner could loosen it again), a path that is no directory, and a state
 * file that is not a regular file (a symlink would send Secret data wherever it points).
 */
import { chmodSync, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../runtime/log.js';

export type StateDirErrorCode =
  | 'APISERVER_STATE_DIR_NOT_A_DIRECTORY'
  | 'APISERVER_STATE_DIR_NOT_OWNED'
  | 'APISERVER_STATE_FILE_NOT_REGULAR';

export class StateDirError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly code: StateDirErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StateDirError';
  }
}

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Every file the emulator writes in its state directory (persistence.ts, tls.ts, index.ts). */
export const STATE_FILES = [
  'store.json',
  'store.json.tmp',
  'journal.ndjson',
  'token',
  'kubeconfig',
  'ca.key',
  'ca.crt',
  'ca.srl',
  'server.key',
  'server.crt',
  'server.csr',
  'server.ext',
];

const log = logger('apiserver');

function ownedByUs(st: Stats): boolean {
  return typeof process.getuid !== 'function' || st.uid === process.getuid();
}

/** Create `dir` 0700 or make an existing one private; returns the paths whose modes were tightened. */
export function securePrivateDir(dir: string): string[] {
  try {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = statSync(dir);
  if (!st.isDirectory())
    throw new StateDirError(
      'APISERVER_STATE_DIR_NOT_A_DIRECTORY',
      `state dir ${dir} is not a directory; pass --state-dir a directory of your own`,
    );
  if (!ownedByUs(st)) {
    throw new StateDirError(
      'APISERVER_STATE_DIR_NOT_OWNED',
      `state dir ${dir} belongs to uid ${st.uid}, not to this user (uid ${process.getuid!()}); it holds Secret data and keys, so use a directory of your own`,
    );
  }
  const tightened: string[] = [];
  if ((st.mode & 0o777) !== DIR_MODE) {
    chmodSync(dir, DIR_MODE);
    if (st.mode & 0o077) tightened.push(dir);
  }
  for (const f of STATE_FILES) {
    const p = join(dir, f);
    let fst: Stats;
    try {
      fst = lstatSync(p);
    } catch {
      continue;
    }
    if (!fst.isFile())
      throw new StateDirError(
        'APISERVER_STATE_FILE_NOT_REGULAR',
        `${p} is not a regular file (a symlink or other special file); remove it, the emulator writes its own`,
      );
    if (!ownedByUs(fst))
      throw new StateDirError(
        'APISERVER_STATE_DIR_NOT_OWNED',
        `${p} belongs to uid ${fst.uid}, not to this user; remove it or use a state dir of your own`,
      );
    if (fst.mode & 0o077) {
      chmodSync(p, FILE_MODE);
      tightened.push(p);
    }
  }
  if (tightened.length) {
    log.warn(
      { tightened },
      'state dir was readable by other users; made it 0700 and its files 0600. What it held (token, CA key, Secret data) may have been read: remove the state dir to start with new ones',
    );
  }
  return tightened;
}

/** Make one file the emulator just wrote private (a write with `mode` only applies on creation). */
export function makePrivate(path: string): void {
  chmodSync(path, FILE_MODE);
}
