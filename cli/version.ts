/**
 * `gantry --version` and `gantry version [--json]`: what this copy of Gantry is — the package
 * version, the git commit it was built from (scripts/build.mjs records it in
 * dist/build-info.json when the build runs in a checkout; an installed package keeps the commit
 * it was packed from), the native provider ABI it loads and the API group/version it serves.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiVersion } from '../api/index.js';
import { ABI_VERSION } from '../agent/host/abi.js';
import { packageRoot } from '../runtime/paths.js';

export interface VersionInfo {
  version: string;
  /** full commit hash; absent when the build did not run in a git checkout */
  commit?: string;
  /** the checkout had uncommitted changes when it was built */
  dirty?: boolean;
  abiVersion: number;
  apiVersion: string;
  node: string;
}

export function versionInfo(): VersionInfo {
  const root = packageRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  let built: { commit?: string; dirty?: boolean } = {};
  try {
    built = JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8'));
  } catch {
    // not built by scripts/build.mjs (e.g. run from sources): no commit to report
  }
  return {
    version: pkg.version,
    commit: built.commit,
    dirty: built.dirty || undefined,
    abiVersion: ABI_VERSION,
    apiVersion,
    node: process.version,
  };
}

/** One line, e.g. `gantry 0.1.0 (commit 1a2b3c4d5e6f, provider ABI v1, API gantry.dev/v1alpha1)` */
export function versionLine(v: VersionInfo = versionInfo()): string {
  const commit = v.commit ? `commit ${v.commit.slice(0, 12)}${v.dirty ? '+dirty' : ''}` : 'commit unknown';
  return `gantry ${v.version} (${commit}, provider ABI v${v.abiVersion}, API ${v.apiVersion})`;
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the version, the commit it was built from, the provider ABI and the API version')
    .option('--json', 'print one JSON object')
    .action((opts: { json?: boolean }) => {
      const v = versionInfo();
      process.stdout.write(opts.json ? JSON.stringify(v) + '\n' : versionLine(v) + '\n');
    });
}
