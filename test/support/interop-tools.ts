/**
 * The ecosystem's own tools the interop tests drive (scripts/interop-tools.sh builds them into a
 * cache outside the repo, by version): oras v1.3.6, natscli v0.5.0 and a venv with nats.py 2.16.0.
 * A test skips, saying which tool is absent and how to build it, only when it is not there.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const ORAS_VERSION = 'v1.3.6';
export const NATSCLI_VERSION = 'v0.5.0';
export const NATS_PY_VERSION = '2.16.0';

function cacheRoot(env: NodeJS.ProcessEnv): string {
  return env.GANTRY_INTEROP_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gantry', 'interop');
}

export interface InteropTool {
  /** the executable (for nats.py: the venv's python) */
  bin: string;
  /** why the tests that need it skip, or undefined when it is built */
  missing: string | undefined;
}

/** `done` is the file the build writes last (the binary itself, or the venv's marker). */
function tool(bin: string, what: string, done = bin): InteropTool {
  return {
    bin,
    missing: existsSync(done) ? undefined : `${what} is not built at ${done}: run scripts/interop-tools.sh (scripts/setup.sh does)`,
  };
}

export function oras(env: NodeJS.ProcessEnv = process.env): InteropTool {
  return tool(join(cacheRoot(env), `oras-${ORAS_VERSION}`, 'oras'), `oras ${ORAS_VERSION}`);
}

export function natscli(env: NodeJS.ProcessEnv = process.env): InteropTool {
  return tool(join(cacheRoot(env), `natscli-${NATSCLI_VERSION}`, 'nats'), `natscli ${NATSCLI_VERSION}`);
}

export function natsPy(env: NodeJS.ProcessEnv = process.env): InteropTool {
  const venv = join(cacheRoot(env), `nats-py-${NATS_PY_VERSION}`);
  return tool(join(venv, 'bin', 'python'), `nats.py ${NATS_PY_VERSION} (a venv)`, join(venv, '.installed'));
}
