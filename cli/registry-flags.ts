/**
 * What every command that talks to an archive repository shares (par push/pull/revisions/
 * mirror, lock, log, log monitor): the registry flags, short names through the namespace
 * mapping (cli/namespaces.ts), store options from the flags (TLS, plain HTTP, docker
 * credentials, size limit), the exit status of a registry or log error, and output.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { credentialsFromDockerConfig, parseArchiveRef, RegistryError, type StoreOptions } from '../registry/index.js';
import { isTlogError, parseVerifierKey } from '../tlog/index.js';
import { cliError } from './keys.js';
import { mapCliRef } from './namespaces.js';
import { parseByteSize } from './options.js';
import { type TransferFlags, transferLimitFlags, transferLimitsOf } from './transfer-flags.js';

export interface CommonFlags extends TransferFlags {
  plainHttp?: boolean;
  caFile?: string;
  dockerConfig?: string;
  trustedIssuer?: string[];
  json?: boolean;
  maxArchiveBytes: string;
}

/** The registry options every command that talks to an archive repository takes. */
export const registryOptions = (c: Command): Command =>
  transferLimitFlags(c)
    .option('--plain-http', 'speak plain HTTP to this registry (only for registries without TLS)')
    .option('--ca-file <pem>', 'CA certificate(s) that sign the registry certificate')
    .option('--docker-config <file>', 'docker config.json with registry credentials')
    .option('--trusted-issuer <key...>', 'account keys (A…) whose signatures are accepted')
    .option('--json', 'print the result as JSON')
    .option(
      '--max-archive-bytes <size>',
      "refuse archives larger than this (a registry's declared size, before reading), e.g. 256MiB",
      '256MiB',
    );

export function mappedLogKey(name: string): string[] {
  return boundMappedKey(mapCliRef(name));
}

/**
 * The namespace mapping's logKey of a mapped name, bound to the repository the entry maps it
 * to (`<ref>=<vkey>`, tlog/origin-keys.ts): the mapping trusts it for that log, not for others.
 * A logKey already written as `<origin-prefix>=<vkey>` keeps its own prefix.
 */
export function boundMappedKey(m: { ref: string; mapped?: { entry: { logKey?: string } } }): string[] {
  const k = m.mapped?.entry.logKey;
  if (!k) return [];
  try {
    parseVerifierKey(k);
  } catch {
    return [k];
  }
  return [`${m.ref}=${k}`];
}

/** A short name through the namespace mapping (cli/namespaces.ts); a mapping may imply --plain-http. */
export function mappedRef(name: string, flags: { plainHttp?: boolean }): string {
  const m = mapCliRef(name);
  if (m.plainHttp) flags.plainHttp = true;
  return m.ref;
}

export function storeOptions(ref: string, flags: CommonFlags): StoreOptions {
  const parsed = parseArchiveRefForCli(ref);
  const opts: StoreOptions = {
    maxArchiveBytes: parseByteSize(flags.maxArchiveBytes, '--max-archive-bytes'),
    transferLimits: transferLimitsOf(flags),
  };
  if (parsed.kind === 'registry') {
    if (flags.plainHttp) opts.plainHttpRegistries = [parsed.host];
    if (flags.caFile) opts.caFile = flags.caFile;
    const configPath =
      flags.dockerConfig ??
      [process.env.DOCKER_CONFIG ? join(process.env.DOCKER_CONFIG, 'config.json') : '', join(homedir(), '.docker', 'config.json')].find(
        (p) => p && existsSync(p),
      );
    if (configPath) {
      let text: string;
      try {
        text = readFileSync(configPath, 'utf8');
      } catch (e) {
        throw cliError(`cannot read docker config ${configPath}: ${(e as Error).message}`, 2);
      }
      opts.credentials = credentialsFromDockerConfig(text, parsed.host);
    }
  }
  return opts;
}

export function parseArchiveRefForCli(ref: string) {
  try {
    return parseArchiveRef(ref);
  } catch (e) {
    const err = e as Error & { code?: string };
    throw cliError(`${err.code ?? 'BAD_REF'}: ${err.message}`, 2);
  }
}

/** Map library errors to exit statuses: bad references are usage errors, refusals are failures. */
export async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const err = e as Error & { exitCode?: number; code?: string };
    if (typeof err.exitCode === 'number') throw err;
    if (err instanceof RegistryError)
      throw cliError(`${err.code}: ${err.message}`, ['BAD_REF', 'UNMAPPED_NAME', 'BAD_NAMESPACE_MAP'].includes(err.code) ? 2 : 1);
    if (isTlogError(err)) throw cliError(`${err.code}: ${err.message}`, 1);
    if (err.name === 'ParError' && err.code) throw cliError(`${err.code}: ${err.message}`, 1);
    throw err;
  }
}

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

/** A one-line progress bar on stdout, only when it is a terminal and not in --json mode. */
export function progress(verb: string, json?: boolean): { update: (n: number, total: number) => void; done: () => void } {
  if (json || !process.stdout.isTTY) return { update: () => {}, done: () => {} };
  let last = 0;
  let shown = false;
  return {
    update(n, total) {
      const now = Date.now();
      if (now - last < 100 && n < total) return;
      last = now;
      shown = true;
      const width = 30;
      const frac = total > 0 ? Math.min(1, n / total) : 1;
      const filled = Math.round(frac * width);
      process.stdout.write(
        `\r${verb} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${(n / 1048576).toFixed(1)}/${(total / 1048576).toFixed(1)} MiB`,
      );
    },
    done() {
      if (shown) process.stdout.write('\n');
    },
  };
}
