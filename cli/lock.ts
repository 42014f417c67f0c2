/**
 * `gantry lock [DIR]` and `gantry lock verify [DIR]`: pin every Provider manifest's archive to
 * what the registry says now, and later show that it still says so.
 *
 * `lock` reads the Provider manifests in DIR (*.yaml, *.yml, *.json, multi-document YAML; other
 * kinds are skipped), resolves each `spec.archive.ref` (short names through the namespace
 * mapping, cli/namespaces.ts, with DIR's own gantry.namespaces.yaml as the project file) and revision (absent = the highest now) and
 * writes DIR/gantry.lock:
 * JSON, one entry per Provider with the ref as written, the repository it resolved to, the
 * revision, the manifest digest and — when the repository has a transparency log — the signed
 * checkpoint that included that revision (cli/lock-log.ts). `verify` re-reads the manifests and
 * the registry and fails (exit 1, one line per disagreement) when a revision now names another
 * digest, a Provider is missing from the lock or its ref/revision changed, or the log is no
 * longer consistent with the locked checkpoint or disagrees with the locked digest.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { atomicWrite, openArchiveStore, openContentBackend, revisionTag } from '../registry/index.js';
import { cliError } from './keys.js';
import { mapCliRef, namespaceFiles } from './namespaces.js';
import { loadNamespaceMap, type NamespaceMap } from '../registry/index.js';
import { boundMappedKey, run, storeOptions, type CommonFlags } from './registry-flags.js';
import { checkpointForLock, verifyLockedCheckpoint, type LockedCheckpoint } from './lock-log.js';

export const LOCK_FILE = 'gantry.lock';
export const LOCK_VERSION = 1;

const LockedCheckpointSchema = z.strictObject({
  origin: z.string(),
  size: z.int().min(1),
  root: z.string(),
  index: z.int().min(0),
  note: z.string(),
});

export const LockEntry = z.strictObject({
  provider: z.string(),
  file: z.string(),
  ref: z.string(),
  repository: z.string(),
  revision: z.int().min(0),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  checkpoint: LockedCheckpointSchema.optional(),
});
export type LockEntry = z.infer<typeof LockEntry>;

export const LockFile = z.strictObject({ lockVersion: z.literal(LOCK_VERSION), providers: z.array(LockEntry) });
export type LockFile = z.infer<typeof LockFile>;

interface ProviderRef {
  provider: string;
  file: string;
  ref: string;
  revision?: number;
}

/** Provider manifests in `dir` (not recursive), in file then document order. */
export function readProviderRefs(dir: string): ProviderRef[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => /\.(ya?ml|json)$/.test(n) && n !== 'gantry.namespaces.yaml')
      .sort();
  } catch (e) {
    throw cliError(`cannot read ${dir}: ${(e as Error).message}`, 2);
  }
  const refs: ProviderRef[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const docs = parseAllDocuments(readFileSync(path, 'utf8'));
    for (const d of docs) {
      if (d.errors.length) throw cliError(`${name}: not YAML: ${d.errors[0].message}`, 2);
      const o = d.toJS() as {
        kind?: string;
        apiVersion?: string;
        metadata?: { name?: string; namespace?: string };
        spec?: { archive?: { ref?: unknown; revision?: unknown } };
      } | null;
      if (o?.kind !== 'Provider' || !String(o.apiVersion ?? '').startsWith('gantry.dev/')) continue;
      const ref = o.spec?.archive?.ref;
      const revision = o.spec?.archive?.revision;
      if (typeof ref !== 'string') throw cliError(`${name}: Provider ${o.metadata?.name ?? '?'} has no spec.archive.ref`, 2);
      if (revision !== undefined && (!Number.isSafeInteger(revision) || (revision as number) < 1))
        throw cliError(`${name}: Provider ${o.metadata?.name}: spec.archive.revision must be a positive integer`, 2);
      const id = `${o.metadata?.namespace ? o.metadata.namespace + '/' : ''}${o.metadata?.name ?? '?'}`;
      refs.push({ provider: id, file: name, ref, ...(revision !== undefined ? { revision: revision as number } : {}) });
    }
  }
  return refs;
}

async function lockOne(p: ProviderRef, map: NamespaceMap, flags: CommonFlags & { key?: string[] }): Promise<LockEntry> {
  const m = mapCliRef(p.ref, map);
  const f = { ...flags, plainHttp: flags.plainHttp || m.plainHttp };
  const store = openArchiveStore(m.ref, storeOptions(m.ref, f));
  const r = await store.resolve(p.revision);
  const checkpoint = await checkpointForLock(m.ref, storeOptions(m.ref, f), r.revision, r.digest, logKeysFor(flags, m));
  return {
    provider: p.provider,
    file: p.file,
    ref: p.ref,
    repository: m.ref,
    revision: r.revision,
    digest: r.digest,
    ...(checkpoint ? { checkpoint } : {}),
  };
}

function logKeysFor(flags: { key?: string[] }, m: Parameters<typeof boundMappedKey>[0]): string[] {
  return [...(flags.key ?? []), ...boundMappedKey(m)];
}

/** The user's mapping overridden by the project's: the gantry.namespaces.yaml beside the manifests. */
function projectMap(dir: string): NamespaceMap {
  return loadNamespaceMap(namespaceFiles(dir));
}

export function readLockFile(path: string): LockFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw cliError(`cannot read ${path}: ${(e as Error).message}; run gantry lock first`, 2);
  }
  const r = LockFile.safeParse(doc);
  if (!r.success)
    throw cliError(
      `${path} is not a gantry.lock (version ${LOCK_VERSION}): ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      2,
    );
  return r.data;
}

/** Every disagreement between the lock, the manifests and the registry (empty = verified). */
async function verifyLock(dir: string, lock: LockFile, flags: CommonFlags & { key?: string[] }): Promise<string[]> {
  const problems: string[] = [];
  const refs = readProviderRefs(dir);
  const map = projectMap(dir);
  const byProvider = new Map(lock.providers.map((e) => [`${e.file}|${e.provider}`, e]));
  for (const p of refs) {
    const e = byProvider.get(`${p.file}|${p.provider}`);
    if (!e) {
      problems.push(`${p.file}: Provider ${p.provider} is not in ${LOCK_FILE}; run gantry lock`);
      continue;
    }
    byProvider.delete(`${p.file}|${p.provider}`);
    if (e.ref !== p.ref || (p.revision !== undefined && p.revision !== e.revision)) {
      problems.push(
        `${p.file}: Provider ${p.provider} names ${p.ref}${p.revision ? ` revision ${p.revision}` : ''}, the lock ${e.ref} revision ${e.revision}; run gantry lock`,
      );
      continue;
    }
    const m = mapCliRef(p.ref, map);
    if (m.ref !== e.repository) {
      problems.push(
        `${p.file}: Provider ${p.provider}: ${p.ref} now maps to ${m.ref}, the lock says ${e.repository} (namespace mapping changed)`,
      );
      continue;
    }
    const f = { ...flags, plainHttp: flags.plainHttp || m.plainHttp };
    const opts = storeOptions(m.ref, f);
    try {
      // the tag itself, not a fallback through other tags: a moved rev-N is what we look for
      const now = await openContentBackend(m.ref, opts).getManifest(revisionTag(e.revision));
      if (!now)
        problems.push(`REVISION_NOT_FOUND: ${e.repository} has no ${revisionTag(e.revision)} tag any more; the lock pins ${e.digest}`);
      else if (now.digest !== e.digest)
        problems.push(
          `REVISION_MOVED: ${e.repository} revision ${e.revision} now names ${now.digest}, the lock pins ${e.digest}; a published revision never changes — the registry was altered`,
        );
    } catch (err) {
      problems.push(`${(err as { code?: string }).code ?? 'ERROR'}: ${e.repository} revision ${e.revision}: ${(err as Error).message}`);
      continue;
    }
    if (e.checkpoint) {
      const why = await verifyLockedCheckpoint(m.ref, opts, e as LockEntry & { checkpoint: LockedCheckpoint }, logKeysFor(flags, m));
      if (why) problems.push(why);
    }
  }
  for (const e of byProvider.values())
    problems.push(`${LOCK_FILE} pins Provider ${e.provider} from ${e.file}, which is gone; run gantry lock`);
  return problems;
}

export function registerLock(program: Command): void {
  const common = (c: Command): Command =>
    c
      .option('--plain-http', 'speak plain HTTP to the registries (only for registries without TLS)')
      .option('--ca-file <pem>', 'CA certificate(s) that sign the registry certificate')
      .option('--docker-config <file>', 'docker config.json with registry credentials')
      .option(
        '--key <vkey...>',
        "trusted log verifier key(s), each bound to the origins it may sign for: <origin-prefix>=<vkey>, or a bare vkey bound to the origin its key name names (or files holding them; also the namespace mapping's logKey)",
      )
      .option('--json', 'print the result as JSON')
      .option('--max-archive-bytes <size>', 'refuse archives larger than this', '256MiB');
  const lock = common(
    program
      .command('lock')
      .description(`pin every Provider manifest in DIR to its revision, digest and log checkpoint in DIR/${LOCK_FILE}`)
      .argument('[dir]', 'folder with Provider manifests', '.'),
  ).action(async (dir: string, flags: CommonFlags & { key?: string[] }) =>
    run(async () => {
      const abs = resolve(dir);
      const refs = readProviderRefs(abs);
      if (!refs.length) throw cliError(`no Provider manifests in ${abs}`, 2);
      const providers: LockEntry[] = [];
      const map = projectMap(abs);
      for (const p of refs) providers.push(await lockOne(p, map, flags));
      const file: LockFile = { lockVersion: LOCK_VERSION, providers };
      atomicWrite(join(abs, LOCK_FILE), new TextEncoder().encode(JSON.stringify(file, null, 2) + '\n'));
      if (flags.json) process.stdout.write(JSON.stringify(file, null, 2) + '\n');
      else
        for (const e of providers)
          process.stdout.write(
            `${e.provider} ${e.repository} revision ${e.revision} ${e.digest}${e.checkpoint ? ` (log size ${e.checkpoint.size})` : ''}\n`,
          );
    }),
  );
  common(
    lock
      .command('verify')
      .description(`check DIR/${LOCK_FILE} against the manifests, the registries and their logs (exit 1 on any disagreement)`)
      .argument('[dir]', 'folder with Provider manifests and the lock', '.'),
  ).action(async (dir: string, flags: CommonFlags & { key?: string[] }) =>
    run(async () => {
      const abs = resolve(dir);
      const lockFile = readLockFile(join(abs, LOCK_FILE));
      const problems = await verifyLock(abs, lockFile, flags);
      if (flags.json) process.stdout.write(JSON.stringify({ verified: problems.length === 0, problems }, null, 2) + '\n');
      if (problems.length) {
        if (!flags.json) for (const p of problems) process.stderr.write(p + '\n');
        throw cliError(`${LOCK_FILE}: ${problems.length} disagreement(s)`, 1);
      }
      if (!flags.json) process.stdout.write(`${LOCK_FILE}: ${lockFile.providers.length} Provider(s) verified\n`);
    }),
  );
}
