/**
 * Helm v4.3.2, built from Go modules by scripts/helm.sh into a cache outside the repo by version,
 * and the chart it installs (deploy/helm/gantry). A test skips, naming the script, only when the
 * binary is not there.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../runtime/paths.js';

export const HELM_VERSION = 'v4.3.2';
export const CHART = join(packageRoot(), 'deploy', 'helm', 'gantry');

export function helmBinary(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.GANTRY_HELM_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gantry', 'helm');
  return join(root, HELM_VERSION, 'bin', 'helm');
}

/** Why the Helm tests skip, or undefined when helm is built. */
export function helmMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const bin = helmBinary(env);
  return existsSync(bin) ? undefined : `helm ${HELM_VERSION} is not built at ${bin}: run scripts/helm.sh (scripts/setup.sh does)`;
}

export interface HelmResult {
  code: number;
  out: string;
  err: string;
}

const run = promisify(execFile);

/**
 * Runs helm with its state (repositories, cache, registry config) in `home`, never the user's.
 * Asynchronous: an API emulator in this process must keep answering while helm runs.
 */
export async function helm(args: string[], home: string, timeout = 120_000): Promise<HelmResult> {
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  try {
    const { stdout, stderr } = await run(helmBinary(), args, { env, timeout, maxBuffer: 64 << 20 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
  }
}
