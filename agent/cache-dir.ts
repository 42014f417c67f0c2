/**
 * The agent's cache directory holds what it will load: archives, extracted libraries and the
 * pid records of its hosts. Anyone who can write there can offer the agent other bytes, so the
 * agent refuses to start on a cache directory (or a subdirectory of it) that is not a real
 * directory owned by its own user, or that group or others may write; it creates what is
 * missing 0700, and its files 0600. This is checked once, at start, before anything is read.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export class CacheDirError extends Error {
  readonly code = 'CACHE_DIR_UNSAFE';
  /** a configuration error: the agent does not start (exit status 2) */
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'CacheDirError';
  }
}

/** The subdirectories the agent keeps under its cache dir. */
export const CACHE_SUBDIRS = ['archives', join('archives', 'sha256'), 'binaries', 'hosts'] as const;

function checkOne(dir: string, uid: number | undefined): void {
  const st = lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new CacheDirError(
      `gantry agent: cache directory ${dir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; give --cache-dir a real directory owned by this user [CACHE_DIR_UNSAFE]`,
    );
  }
  if (uid !== undefined && st.uid !== uid) {
    throw new CacheDirError(
      `gantry agent: cache directory ${dir} is owned by uid ${st.uid}, not by this agent's uid ${uid}; chown it to the agent's user or choose another --cache-dir [CACHE_DIR_UNSAFE]`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new CacheDirError(
      `gantry agent: cache directory ${dir} is writable by ${st.mode & 0o020 ? 'group' : ''}${(st.mode & 0o022) === 0o022 ? ' and ' : ''}${st.mode & 0o002 ? 'others' : ''} (mode ${(st.mode & 0o777).toString(8)}); run chmod 700 on it [CACHE_DIR_UNSAFE]`,
    );
  }
}

/** Create (0700) or check the cache dir and its subdirectories; throws CacheDirError. */
export function ensurePrivateCacheDir(dir: string): void {
  const uid = process.getuid?.();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkOne(dir, uid);
  for (const sub of CACHE_SUBDIRS) {
    const p = join(dir, sub);
    mkdirSync(p, { recursive: true, mode: 0o700 });
    checkOne(p, uid);
  }
}
