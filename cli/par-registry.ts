/**
 * `gantry par push|pull|revisions`: move signed Provider Archives to and from OCI registries
 * (`HOST[:PORT]/REPOSITORY`) and image-layout directories (`oci-layout:PATH`). Archives are
 * verified on push and on pull; there is no flag to skip that. Registry credentials come from
 * the docker config (`--docker-config`, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`).
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  ARCHIVE_MEDIA_TYPES,
  type ArchiveMediaTypes,
  atomicWrite,
  mirrorRepository,
  openArchiveStore,
  openContentBackend,
  parseArchiveRef,
  type PublishedArchive,
  RegistryError,
} from '../registry/index.js';
import { appendToLog, logEntryOf, parseSignerKey, refuseIfSequenced, requestAppend, TlogError, type NoteSigner } from '../tlog/index.js';
import { cliError } from './keys.js';
import { mapCliRef } from './namespaces.js';
import { parseByteSize } from './options.js';
import {
  boundMappedKey,
  mappedLogKey,
  mappedRef,
  out,
  parseArchiveRefForCli,
  progress,
  registryOptions,
  run,
  storeOptions,
  type CommonFlags,
} from './registry-flags.js';

interface LogFlags {
  mediaTypes: string;
  logKey?: string;
  logOrigin?: string;
  logDeltaMs?: string;
  logSequencer?: string;
}

type PullFlags = CommonFlags & { revision?: string; digest?: string; target?: string; output?: string; via?: string; key?: string[] };

/** Registers mirror, push, pull and revisions under `par`, in that order. */
export function registerParRegistryCommands(par: Command): void {
  registerParMirror(par);
  registerPush(par);
  registerPull(par);
  registerRevisions(par);
}

function registerPush(par: Command): void {
  registryOptions(
    par
      .command('push')
      .description('verify a signed archive and publish it under its revision')
      .argument('<file>', 'the .par / .par.gz file')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH'),
  )
    .option(
      '--media-types <whose>',
      "gantry | wasmcloud: wasmCloud's config and layer types, so `wash` and wasmCloud hosts pull it (tar and tar.gz only)",
      'gantry',
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
    .option(
      '--log-sequencer <url>',
      "append through the repository's sequencer (`gantry log serve`) instead of signing here: no timing wait (docs/transparency.md)",
    )
    .action(async (file: string, name: string, flags: CommonFlags & LogFlags) => run(() => push(file, name, flags)));
}

async function push(file: string, name: string, flags: CommonFlags & LogFlags): Promise<void> {
  if (!ARCHIVE_MEDIA_TYPES.includes(flags.mediaTypes as ArchiveMediaTypes))
    throw cliError(`--media-types ${JSON.stringify(flags.mediaTypes)}: use gantry or wasmcloud`, 2);
  const ref = mappedRef(name, flags);
  const store = openArchiveStore(ref, storeOptions(ref, flags));
  const max = parseByteSize(flags.maxArchiveBytes, '--max-archive-bytes');
  let bytes: Uint8Array;
  try {
    const size = statSync(file).size;
    if (size > max)
      throw new RegistryError('ARCHIVE_TOO_LARGE', `${file} is ${size} bytes, over the ${max}-byte limit (--max-archive-bytes); not read`);
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
  if (flags.logSequencer !== undefined) checkSequencerFlag(flags, ref);
  // a sequenced log is appended by its sequencer only: say so before anything is pushed
  if (signer) await refuseIfSequenced(openContentBackend(ref, storeOptions(ref, flags)));
  const bar = progress('push', flags.json);
  const pushed = await store.push(bytes, {
    trustedIssuers: flags.trustedIssuer,
    mediaTypes: flags.mediaTypes as ArchiveMediaTypes,
    onProgress: bar.update,
  });
  bar.done();
  let log: LogLine | undefined;
  if (flags.logSequencer !== undefined) log = await appendThroughSequencer(flags.logSequencer, ref, pushed);
  else if (signer) log = await appendHere(ref, flags, store, pushed, signer, deltaMs);
  if (flags.json) out(JSON.stringify(log ? { ...pushed, log } : pushed, null, 2));
  else {
    out(
      `pushed ${store.description} revision ${pushed.revision}${pushed.summary.version ? ` (version ${pushed.summary.version})` : ''} ${pushed.digest}`,
    );
    if (log) out(`logged as entry ${log.index}${log.appended ? '' : ' (already logged)'}; checkpoint of size ${log.treeSize}`);
  }
}

/** What a push prints of its log entry. */
interface LogLine {
  index: number;
  appended: boolean;
  treeSize: number;
  checkpoint: string;
}

/** Appends with Fischer's timing rule, signing here (--log-key). */
async function appendHere(
  ref: string,
  flags: CommonFlags & LogFlags,
  store: ReturnType<typeof openArchiveStore>,
  pushed: PublishedArchive,
  signer: NoteSigner,
  deltaMs: number,
): Promise<LogLine> {
  const backend = openContentBackend(ref, storeOptions(ref, flags));
  const logged = await appendToLog(backend, logEntryOf(pushed), {
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
  return {
    index: logged.index,
    appended: logged.appended,
    treeSize: logged.checkpoint.checkpoint.size,
    checkpoint: logged.checkpoint.note,
  };
}

function checkSequencerFlag(flags: LogFlags, ref: string): void {
  if (flags.logKey !== undefined)
    throw cliError('--log-key and --log-sequencer exclude each other: the sequencer signs with its own key', 2);
  if (!/^https?:\/\/[^\s/]+/.test(flags.logSequencer ?? ''))
    throw cliError(`--log-sequencer must be an http(s) URL, got "${flags.logSequencer}"`, 2);
  if (parseArchiveRefForCli(ref).kind !== 'registry')
    throw cliError('--log-sequencer appends to a registry repository, not an oci-layout directory', 2);
}

/** The sequencer appends the pushed revision; a refusal says the archive is pushed and how to finish. */
async function appendThroughSequencer(url: string, ref: string, pushed: PublishedArchive): Promise<LogLine> {
  try {
    const r = await requestAppend(url, { repository: ref, revision: pushed.revision, digest: pushed.digest });
    return { index: r.index, appended: r.appended, treeSize: r.treeSize, checkpoint: r.checkpoint };
  } catch (e) {
    if (!(e instanceof TlogError)) throw e;
    throw new TlogError(
      'TLOG_SEQUENCER_REFUSED',
      `${e.message}. Revision ${pushed.revision} is pushed (${pushed.digest}) but not logged: push the same archive again with --log-sequencer to log it`,
    );
  }
}

function registerPull(par: Command): void {
  registryOptions(
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
  ).action(async (name: string, flags: PullFlags) => run(() => pull(name, flags)));
}

async function pull(name: string, flags: PullFlags): Promise<void> {
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
    const keys = [...(flags.key ?? []), ...boundMappedKey(mapped)];
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
}

function registerRevisions(par: Command): void {
  registryOptions(
    par
      .command('revisions')
      .description('list the published revisions of an archive repository')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH'),
  ).action(async (name: string, flags: CommonFlags) => run(() => revisions(name, flags)));
}

async function revisions(name: string, flags: CommonFlags): Promise<void> {
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
      run(() => mirror(srcName, dstName, flags)),
    );
}

async function mirror(srcName: string, dstName: string, flags: CommonFlags & { key?: string[] }): Promise<void> {
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
}
