/**
 * The transparency-log checks of the federation commands (docs/transparency-federation.md):
 * `par mirror` refuses to spread a log that does not verify; `par pull --via MIRROR` reads the
 * mirror's copy of the log against the ORIGIN's key and origin line, so the mirror can serve
 * but not lie; `lock` records the signed checkpoint that included each pinned revision and
 * `lock verify` shows the log still extends it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { openContentBackend, parseRevisionTag, revisionTag, type StoreOptions } from '../registry/index.js';
import {
  decodeBase64,
  decodeEntry,
  encodeBase64,
  parseTrustedLogKey,
  verifyLog,
  type Checkpoint,
  type LogReader,
  type NoteVerifier,
} from '../tlog/index.js';
import { cliError } from './keys.js';
import { inclusionOf, withLog } from './log-reader.js';
import type { LockedCheckpoint } from './lock-log.js';

/**
 * `--key` values: a trusted log key (`<origin-prefix>=<vkey>`, or a bare vkey bound to the origin
 * its key name names: tlog/origin-keys.ts), or a file holding one per line (as `gantry log` reads them).
 */
export function verifiersOf(keys: readonly string[] | undefined, flag = '--key'): NoteVerifier[] {
  const out: NoteVerifier[] = [];
  for (const k of keys ?? []) {
    const texts =
      existsSync(k) && statSync(k).isFile()
        ? readFileSync(k, 'utf8')
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
        : [k];
    for (const t of texts) {
      try {
        out.push(parseTrustedLogKey(t));
      } catch (e) {
        throw cliError(`${flag} ${k}: ${(e as Error).message}`, 2);
      }
    }
  }
  return out;
}

/** Before mirroring: the origin's log verifies end to end (when keys are given). */
export async function verifyOriginLog(ref: string, opts: StoreOptions, keys: string[]): Promise<{ size: number } | undefined> {
  const verifiers = verifiersOf(keys);
  if (!verifiers.length) return undefined;
  const v = await verifyLog(openContentBackend(ref, opts), { verifiers });
  if (v.problems.length === 1 && v.problems[0].code === 'TLOG_NO_LOG') return undefined;
  if (!v.ok)
    throw cliError(
      `${ref}: the log does not verify, not mirroring it:\n${v.problems.map((p) => `  ${p.code}: ${p.message}`).join('\n')}`,
      1,
    );
  return { size: v.checkpoint!.checkpoint.size };
}

/**
 * Which digest to pull through a mirror: the mirror's copy of the origin's log, verified
 * against the origin's key and origin line, must include `revision` (default: the highest
 * checkpointed) and the mirror's rev-N tag must name the logged digest.
 */
export async function revisionThroughMirror(
  via: string,
  viaOpts: StoreOptions,
  origin: string,
  keys: string[],
  revision?: number,
): Promise<{ revision: number; digest: string; index: number; size: number }> {
  const verifiers = verifiersOf(keys);
  if (!verifiers.length)
    throw cliError(
      `--via ${via}: pulling through a mirror needs the origin's log key (--key, or logKey in the namespace mapping): without it the mirror could serve anything`,
      2,
    );
  const backend = openContentBackend(via, viaOpts);
  const { size, pick, r } = await withLog(backend, origin, async (log) => {
    const latest = await log.latestCheckpoint(verifiers);
    const pick = revision ?? (await highestLogged(log, latest.checkpoint));
    return { size: latest.checkpoint.size, pick, r: await inclusionOf(log, pick, latest.checkpoint) };
  });
  const tagged = await backend.getManifest(revisionTag(pick));
  if (!tagged || tagged.digest !== r.entry.digest) {
    throw cliError(
      `TLOG_TAG_MISMATCH: ${via}: ${revisionTag(pick)} names ${tagged?.digest ?? 'nothing'}, but ${origin}'s log (checkpoint of size ${size}) records ${r.entry.digest}; the mirror is serving other bytes`,
      1,
    );
  }
  return { revision: pick, digest: r.entry.digest, index: r.index, size };
}

/**
 * The highest revision the tree of `c` logs, without reading every leaf: the rev-N tags from
 * the highest down, until one is found in the tree (each lookup is O(log n) tiles). Nothing
 * logged is TLOG_UNLOGGED_REVISION.
 */
async function highestLogged(log: LogReader, c: Checkpoint): Promise<number> {
  const revisions = (await log.backend.listTags())
    .map(parseRevisionTag)
    .filter((r): r is number => r !== undefined)
    .sort((a, b) => b - a);
  for (const r of revisions) if (await log.findRevision(r, c)) return r;
  throw cliError(
    `TLOG_UNLOGGED_REVISION: ${log.backend.description}: no published revision is in the log's checkpoint of size ${c.size}`,
    1,
  );
}

/** The verified checkpoint that includes `revision` as `digest`, for gantry.lock (undefined: no keys, or no log). */
export async function checkpointForLock(
  ref: string,
  opts: StoreOptions,
  revision: number,
  digest: string,
  keys: string[],
): Promise<LockedCheckpoint | undefined> {
  const verifiers = verifiersOf(keys);
  if (!verifiers.length) return undefined;
  const found = await withLog(openContentBackend(ref, opts), undefined, async (log) => {
    // no log at all: nothing to lock (entries without a checkpoint are TLOG_NO_LOG below)
    if (log.empty) return undefined;
    const latest = await log.latestCheckpoint(verifiers);
    return { latest, r: await inclusionOf(log, revision, latest.checkpoint) };
  });
  if (!found) return undefined;
  const { latest, r } = found;
  if (r.entry.digest !== digest)
    throw cliError(
      `TLOG_TAG_MISMATCH: ${ref} ${revisionTag(revision)} names ${digest}, but its log entry ${r.index} records ${r.entry.digest}; not locking it`,
      1,
    );
  const c = latest.checkpoint;
  return { origin: c.origin, size: c.size, root: encodeBase64(c.root), index: r.index, note: latest.note };
}

/** Why the log no longer agrees with a locked checkpoint, or undefined when it does. */
export async function verifyLockedCheckpoint(
  ref: string,
  opts: StoreOptions,
  e: { revision: number; digest: string; checkpoint: LockedCheckpoint },
  keys: string[],
): Promise<string | undefined> {
  const verifiers = verifiersOf(keys);
  if (!verifiers.length)
    return `${ref}: the lock records a log checkpoint but no log key was given to check it (--key, or logKey in the namespace mapping)`;
  try {
    const entry = await withLog(openContentBackend(ref, opts), e.checkpoint.origin, async (log) => {
      const latest = await log.latestCheckpoint(verifiers);
      await log.checkExtends(
        { origin: e.checkpoint.origin, size: e.checkpoint.size, root: decodeBase64(e.checkpoint.root) ?? new Uint8Array(), extensions: [] },
        latest.checkpoint,
      );
      return entryAt(log, e.checkpoint.index, latest.checkpoint);
    });
    if (!entry || entry.revision !== e.revision || entry.digest !== e.digest)
      return `TLOG_TAG_MISMATCH: ${ref}: log entry ${e.checkpoint.index} now records revision ${entry?.revision} as ${entry?.digest}, the lock pins revision ${e.revision} as ${e.digest}`;
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'ERROR';
    return `${code}: ${(err as Error).message.startsWith(ref) ? '' : `${ref}: `}${(err as Error).message}`;
  }
}

/** The entry at leaf `index` of the tree of `c` (authenticated), or undefined when the tree is smaller. */
async function entryAt(log: LogReader, index: number, c: Checkpoint): Promise<{ revision: number; digest: string } | undefined> {
  if (!Number.isSafeInteger(index) || index < 0 || index >= c.size) return undefined;
  const [bytes] = await log.tree(c).entries(index, index + 1);
  return decodeEntry(bytes);
}
