/**
 * `gantry par push|pull|revisions`: move signed Provider Archives to and from OCI registries
 * (`HOST[:PORT]/REPOSITORY`) and image-layout directories (`oci-layout:PATH`). Archives are
 * verified on push and on pull; there is no flag to skip that. Registry credentials come from
 * the docker config (`--docker-config`, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { cliError } from './keys.js';
import { parseByteSize } from './options.js';
import {
  atomicWrite,
  credentialsFromDockerConfig,
  mirrorRepository,
  openArchiveStore,
  openContentBackend,
  parseArchiveRef,
  RegistryError,
  type PublishedArchive,
  type StoreOptions,
} from '../registry/index.js';
import { mapCliRef } from './namespaces.js';
import { appendToLog, isTlogError, parseSignerKey, type LogEntry, type NoteSigner } from '../tlog/index.js';

export interface CommonFlags {
  plainHttp?: boolean;
  caFile?: string;
  dockerConfig?: string;
  trustedIssuer?: string[];
  json?: boolean;
  maxArchiveBytes: string;
}

/** The registry options every command that talks to an archive repository takes. */
export const registryOptions = (c: Command): Command =>
  c
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

interface LogFlags {
  logKey?: string;
  logOrigin?: string;
  logDeltaMs?: string;
}

export function registerParRegistryCommands(par: Command): void {
  const common = registryOptions;
  registerParMirror(par);

  common(
    par
      .command('push')
      .description('verify a signed archive and publish it under its revision')
      .argument('<file>', 'the .par / .par.gz file')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH'),
  )
    .option(
      '--log-key <file>',
      "append the revision to the repository's transparency log, signing its checkpoint with this log signer key (docs/transparency.md)",
    )
    .option('--log-origin <origin>', "the log's origin line (default: HOST[:PORT]/REPOSITORY)")
    .option(
      '--log-delta-ms <ms>',
      'Δ, the longest a log-index claim write may take on this registry (the push waits 1.5 × Δ to confirm it)',
      '1000',
    )
    .action(async (file: string, name: string, flags: CommonFlags & LogFlags) =>
      run(async () => {
        const ref = mappedRef(name, flags);
        const store = openArchiveStore(ref, storeOptions(ref, flags));
        const max = parseByteSize(flags.maxArchiveBytes, '--max-archive-bytes');
        let bytes: Uint8Array;
        try {
          const size = statSync(file).size;
          if (size > max)
            throw new RegistryError(
              'ARCHIVE_TOO_LARGE',
              `${file} is ${size} bytes, over the ${max}-byte limit (--max-archive-bytes); not read`,
            );
          bytes = readFileSync(file);
        } catch (e) {
          if (e instanceof RegistryError) throw e;
          throw cliError(`cannot read ${file}: ${(e as Error).message}`, 1);
        }
        // the log key is read before anything is pushed: a typo must not leave an unlogged revision
        const signer = flags.logKey !== undefined ? readLogSigner(flags.logKey) : undefined;
        const deltaMs = Number(flags.logDeltaMs);
        if (!Number.isSafeInteger(deltaMs) || deltaMs <= 0)
          throw cliError(`--log-delta-ms must be a positive integer, got "${flags.logDeltaMs}"`, 2);
        const bar = progress('push', flags.json);
        const pushed = await store.push(bytes, { trustedIssuers: flags.trustedIssuer, onProgress: bar.update });
        bar.done();
        let logged: Awaited<ReturnType<typeof appendToLog>> | undefined;
        if (signer) {
          const backend = openContentBackend(ref, storeOptions(ref, flags));
          logged = await appendToLog(backend, logEntryOf(pushed), {
            signer,
            origin: flags.logOrigin,
            deltaMs,
            // revisions pushed before the log existed are logged first (each pulled and verified)
            backfill: async () => {
              const older = (await store.revisions()).filter((r) => r.revision !== pushed.revision);
              const out = [];
              for (const r of older) {
                const claims = (await store.pull(r.digest, { trustedIssuers: flags.trustedIssuer })).verified.claims;
                out.push({
                  revision: claims.revision,
                  digest: r.digest,
                  issuer: claims.issuer,
                  subject: claims.subject,
                  capid: claims.capid ?? '',
                  version: claims.version ?? '',
                });
              }
              return out;
            },
          });
        }
        const log = logged && {
          index: logged.index,
          appended: logged.appended,
          treeSize: logged.checkpoint.checkpoint.size,
          checkpoint: logged.checkpoint.note,
        };
        if (flags.json) out(JSON.stringify(log ? { ...pushed, log } : pushed, null, 2));
        else {
          out(
            `pushed ${store.description} revision ${pushed.revision}${pushed.summary.version ? ` (version ${pushed.summary.version})` : ''} ${pushed.digest}`,
          );
          if (log) out(`logged as entry ${log.index}${log.appended ? '' : ' (already logged)'}; checkpoint of size ${log.treeSize}`);
        }
      }),
    );

  common(
    par
      .command('pull')
      .description('fetch an archive by revision (highest by default), verify it, and write it')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH')
      .option('--revision <n>', 'the revision to fetch (default: the highest published)')
      .option('--digest <sha256>', 'fetch this manifest digest instead of a revision')
      .option('--target <arch-os>', 'also require a binary for this target, e.g. x86_64-linux')
      .option('-o, --output <file>', 'where to write the archive (default: <repository>-rev<N>.par)')
      .option(
        '--via <mirror>',
        "fetch through this mirror (HOST[:PORT]/REPOSITORY), checking its copy of the log against the origin's key (--key); the namespace mapping's via does the same",
      )
      .option('--key <vkey...>', "the origin log's verifier key(s), for --via (also the namespace mapping's logKey)"),
  ).action(
    async (
      name: string,
      flags: CommonFlags & { revision?: string; digest?: string; target?: string; output?: string; via?: string; key?: string[] },
    ) =>
      run(async () => {
        const mapped = mapCliRef(name);
        if (mapped.plainHttp) flags.plainHttp = true;
        const origin = mapped.ref;
        const via = flags.via ?? mapped.via;
        // through a mirror, bytes come from the mirror but the log is the origin's (its key, its origin line)
        const ref = via ?? origin;
        if (via) parseArchiveRefForCli(via);
        const store = openArchiveStore(ref, storeOptions(ref, flags));
        let which: string | number | undefined;
        if (flags.digest !== undefined) which = flags.digest;
        else if (flags.revision !== undefined) {
          if (!/^[0-9]+$/.test(flags.revision)) throw cliError(`--revision must be a non-negative integer, got "${flags.revision}"`, 2);
          which = Number(flags.revision);
        }
        if (via) {
          if (typeof which === 'string') throw cliError("--via pulls by revision (checked against the origin's log), not --digest", 2);
          const { revisionThroughMirror } = await import('./log-federation.js');
          const keys = [...(flags.key ?? []), ...(mapped.mapped?.entry.logKey ? [mapped.mapped.entry.logKey] : [])];
          which = (await revisionThroughMirror(via, storeOptions(via, flags), origin, keys, which)).digest;
        }
        const resolved = which === undefined ? await store.resolve() : undefined;
        const bar = progress('pull', flags.json);
        const pulled = await store.pull(which ?? resolved!.digest, {
          trustedIssuers: flags.trustedIssuer,
          target: flags.target,
          onProgress: bar.update,
        });
        bar.done();
        const revision = pulled.verified.claims.revision;
        const parsed = parseArchiveRef(ref);
        const stem = parsed.kind === 'registry' ? basename(parsed.repository) : basename(parsed.path);
        const target = resolve(flags.output ?? `${stem}-rev${revision}.par`);
        // verified above; write beside the target and rename so no partial file is ever visible
        try {
          atomicWrite(target, pulled.bytes);
        } catch (e) {
          throw cliError(`cannot write ${target}: ${(e as Error).message}`, 1);
        }
        const result = {
          file: target,
          revision,
          digest: pulled.digest,
          version: pulled.verified.claims.version,
          issuer: pulled.verified.claims.issuer,
          targets: Object.keys(pulled.verified.targets),
        };
        if (flags.json) out(JSON.stringify(result, null, 2));
        else out(`pulled ${store.description} revision ${revision} ${pulled.digest} → ${target}`);
      }),
  );

  common(
    par
      .command('revisions')
      .description('list the published revisions of an archive repository')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH'),
  ).action(async (name: string, flags: CommonFlags) =>
    run(async () => {
      const ref = mappedRef(name, flags);
      const store = openArchiveStore(ref, storeOptions(ref, flags));
      const list = await store.revisions();
      if (flags.json) {
        out(
          JSON.stringify(
            list.map((r) => ({
              revision: r.revision,
              version: r.summary.version ?? null,
              digest: r.digest,
              targets: r.summary.targets,
              name: r.summary.name,
              capid: r.summary.capid ?? null,
              issuer: r.summary.issuer,
              pushedAt: r.pushedAt ?? null,
            })),
            null,
            2,
          ),
        );
        return;
      }
      if (!list.length) {
        out(`no revisions published in ${store.description}`);
        return;
      }
      const rows = [['REVISION', 'VERSION', 'DIGEST', 'TARGETS', 'PUSHED-AT']];
      for (const r of list)
        rows.push([
          String(r.revision),
          r.summary.version ?? '-',
          r.digest.slice(0, 19),
          Object.keys(r.summary.targets).join(',') || '-',
          r.pushedAt ?? '-',
        ]);
      const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
      for (const row of rows)
        out(
          row
            .map((c, i) => c.padEnd(widths[i]))
            .join('  ')
            .trimEnd(),
        );
    }),
  );
}

/** The log entry of a pushed archive (its summary was made from the verified claims). */
function logEntryOf(pushed: PublishedArchive): LogEntry {
  return {
    revision: pushed.revision,
    digest: pushed.digest,
    issuer: pushed.summary.issuer,
    subject: pushed.summary.subject,
    capid: pushed.summary.capid ?? '',
    version: pushed.summary.version ?? '',
  };
}

/** A log signer key file (`PRIVATE+KEY+…`, first non-empty line). */
export function readLogSigner(path: string): NoteSigner {
  let text: string;
  try {
    if (statSync(path).size > 64 * 1024) throw cliError(`${path}: too large to be a log key file`, 2);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { exitCode?: number }).exitCode) throw e;
    throw cliError(`cannot read the log key ${path}: ${(e as Error).message}`, 2);
  }
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  try {
    return parseSignerKey(line);
  } catch (e) {
    throw cliError(`${path}: ${(e as Error).message}`, 2);
  }
}

export function registerParMirror(par: Command): void {
  par
    .command('mirror')
    .description('copy every archive and the transparency log of a repository to another registry, byte for byte')
    .argument('<src>', 'the origin: HOST[:PORT]/REPOSITORY, a mapped short name, or oci-layout:PATH')
    .argument('<dst>', 'the mirror: HOST[:PORT]/REPOSITORY or oci-layout:PATH')
    .option('--plain-http', 'speak plain HTTP to both registries (only for registries without TLS)')
    .option('--ca-file <pem>', "CA certificate(s) that sign the registries' certificates")
    .option('--docker-config <file>', 'docker config.json with registry credentials')
    .option(
      '--key <vkey...>',
      "the origin log's verifier key(s): refuse to copy a log that does not verify (also the namespace mapping's logKey)",
    )
    .option('--json', 'print the result as JSON')
    .action(async (srcName: string, dstName: string, flags: CommonFlags & { key?: string[] }) =>
      run(async () => {
        flags.maxArchiveBytes ??= '256MiB';
        const srcFlags = { ...flags };
        const src = mappedRef(srcName, srcFlags);
        const dstFlags = { ...flags };
        const dst = mappedRef(dstName, dstFlags);
        const { verifyOriginLog } = await import('./log-federation.js');
        const logKeys = [...(flags.key ?? []), ...mappedLogKey(srcName)];
        const checked = await verifyOriginLog(src, storeOptions(src, srcFlags), logKeys);
        const report = await mirrorRepository(
          openContentBackend(src, storeOptions(src, srcFlags)),
          openContentBackend(dst, storeOptions(dst, dstFlags)),
        );
        const result = { source: src, mirror: dst, ...report, ...(checked ? { log: checked } : {}) };
        if (flags.json) out(JSON.stringify(result, null, 2));
        else
          out(
            `mirrored ${src} → ${dst}: ${report.copiedTags}/${report.tags} tags written, ${report.blobs} blobs (${report.bytes} bytes)${checked ? `, log verified at size ${checked.size}` : ''}`,
          );
      }),
    );
}

export function mappedLogKey(name: string): string[] {
  const k = mapCliRef(name).mapped?.entry.logKey;
  return k ? [k] : [];
}

/** A short name through the namespace mapping (cli/namespaces.ts); a mapping may imply --plain-http. */
export function mappedRef(name: string, flags: { plainHttp?: boolean }): string {
  const m = mapCliRef(name);
  if (m.plainHttp) flags.plainHttp = true;
  return m.ref;
}

export function storeOptions(ref: string, flags: CommonFlags): StoreOptions {
  const parsed = parseArchiveRefForCli(ref);
  const opts: StoreOptions = { maxArchiveBytes: parseByteSize(flags.maxArchiveBytes, '--max-archive-bytes') };
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

function parseArchiveRefForCli(ref: string) {
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
function progress(verb: string, json?: boolean): { update: (n: number, total: number) => void; done: () => void } {
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
