/**
 * What a lying registry (or a stolen log key) does to a repository's log, done to a real
 * registry with the log library's own writers: fork the history, roll it back, re-point a
 * tag, forge a checkpoint signature. Shared by the controller, monitor and mirror tests.
 */
import { DistributionClient, openArchiveStore, type ContentBackend } from '../../registry/index.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import {
  checkpointLog,
  checkpointTag,
  encodeEntry,
  entryTag,
  LATEST_CHECKPOINT_TAG,
  logRevisionTag,
  storeTiles,
  tiles,
  formatCheckpoint,
  openLog,
  parseSignerKey,
  rootOf,
  signNote,
  storeCheckpointNote,
  storeEntry,
  type LogEntry,
  type NoteSigner,
  logEntryOf,
} from '../../tlog/index.js';

export function clientOf(host: string, repo: string): DistributionClient {
  return new DistributionClient(host, repo, { plainHttpHosts: [host] });
}

/** The log entry of a revision as published (its summary comes from the verified claims). */
export async function entryOf(host: string, repo: string, revision: number): Promise<LogEntry> {
  const r = await openArchiveStore(`${host}/${repo}`, { plainHttpRegistries: [host] }).resolve(revision);
  return logEntryOf({ ...r, revision });
}

/**
 * Logs a published revision the way an append ends up (entry at the next index, then a signed
 * checkpoint over all entries), as the only writer: these tests are about reading logs, and
 * the append's timing bound (tested in test/tlog) would make their setup depend on machine load.
 */
export async function logRevision(host: string, repo: string, revision: number, signer: NoteSigner): Promise<void> {
  const b = clientOf(host, repo);
  const log = await openLog(b);
  await storeEntry(b, log.size, await entryOf(host, repo, revision));
  await checkpointLog(b, { signer });
}

/**
 * Signs and stores a checkpoint over whatever entries are stored now (no check: the attacker
 * holds the key). A tiled log (tlog.checkpoint present) gets the tiles of those entries, their
 * revision pointers and tlog.checkpoint too: its readers read those, not the entry tags.
 */
export async function signWhatIsStored(backend: ContentBackend, signer: NoteSigner, origin?: string): Promise<void> {
  const log = await openLog(backend, { origin });
  const note = signNote(formatCheckpoint({ origin: log.origin, size: log.size, root: rootOf(log.leafHashes), extensions: [] }), [signer]);
  await storeCheckpointNote(backend, log.size, note);
  if (!(await backend.getManifest(LATEST_CHECKPOINT_TAG))) return;
  const encoded = log.entries.map((e) => encodeEntry(e));
  await storeTiles(backend, (await tiles.growTiles(undefined, 0, encoded)).writes);
  const first = new Map<number, number>();
  for (const [i, e] of log.entries.entries()) if (!first.has(e.revision)) first.set(e.revision, i);
  for (const [revision, i] of first) {
    const m = (await backend.getManifest(entryTag(i)))!;
    await backend.putManifest(logRevisionTag(revision), m.bytes, OCI_MANIFEST);
  }
  await moveLatestTo(backend, log.size);
}

/** Points tlog.checkpoint at tlog.checkpoint.<size> (what a registry rolling a tiled log back does). */
async function moveLatestTo(backend: ContentBackend, size: number): Promise<void> {
  const m = await backend.getManifest(checkpointTag(size));
  if (m) await backend.putManifest(LATEST_CHECKPOINT_TAG, m.bytes, OCI_MANIFEST);
}

/** A fork: entry `index` rewritten to `entry` (its rev tag re-pointed to match) and the result signed with the log key. */
export async function forkAt(
  host: string,
  repo: string,
  index: number,
  entry: LogEntry,
  signer: NoteSigner,
  origin?: string,
): Promise<void> {
  const b = clientOf(host, repo);
  await storeEntry(b, index, entry);
  await repointTag(host, repo, `rev-${entry.revision}`, entry.digest);
  await signWhatIsStored(b, signer, origin);
}

/** Deletes a manifest (and every tag naming it), as a registry operator can. */
export async function deleteTag(host: string, repo: string, tag: string): Promise<void> {
  const m = await clientOf(host, repo).getManifest(tag);
  if (!m) return;
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${m.digest}`, { method: 'DELETE' });
  if (res.status !== 202) throw new Error(`DELETE ${tag}: ${res.status} ${await res.text()}`);
}

/** A rollback: the log cut back to `size` entries (newer entries and checkpoints deleted). */
export async function rollbackTo(host: string, repo: string, size: number): Promise<void> {
  const b = clientOf(host, repo);
  const log = await openLog(b);
  const tiled = (await b.getManifest(LATEST_CHECKPOINT_TAG)) !== undefined;
  for (const s of log.checkpointSizes.filter((s) => s > size)) await deleteTag(host, repo, checkpointTag(s));
  for (let i = size; i < log.size; i++) await deleteTag(host, repo, entryTag(i));
  // a tiled log's latest checkpoint is tlog.checkpoint: put back the older one
  if (tiled) await moveLatestTo(b, size);
}

/** Re-points `tag` of host/repo at the manifest `digest` (which must exist in the same repository or be copied there first). */
export async function repointTag(host: string, repo: string, tag: string, digest: string, fromRepo = repo): Promise<void> {
  const a = clientOf(host, fromRepo);
  const b = clientOf(host, repo);
  const m = (await a.getManifest(digest))!;
  const doc = JSON.parse(Buffer.from(m.bytes).toString('utf8'));
  if (fromRepo !== repo)
    for (const d of [doc.config.digest, ...doc.layers.map((l: any) => l.digest)]) await b.putBlob(d, await a.getBlob(d));
  await b.putManifest(tag, m.bytes, m.mediaType ?? doc.mediaType);
}

/**
 * A checkpoint with a bad signature: the latest note's text changed to claim one more entry
 * (over a made-up root) under the key's own signature line, stored as the newest checkpoint.
 */
export async function forgeCheckpoint(host: string, repo: string): Promise<void> {
  const b = clientOf(host, repo);
  const log = await openLog(b);
  const stored = (await log.checkpointNote())!;
  const [origin, , , ...rest] = stored.note.split('\n');
  const size = stored.tagSize + 1;
  const fakeRoot = Buffer.alloc(32, 7).toString('base64');
  const forged = [origin, String(size), fakeRoot, ...rest].join('\n');
  await storeCheckpointNote(b, size, forged);
  if (await b.getManifest(LATEST_CHECKPOINT_TAG)) await moveLatestTo(b, size);
}

export function signerOf(signerKey: string): NoteSigner {
  return parseSignerKey(signerKey);
}

/** A mirror (no key) altering its copy of the log: entry `index` rewritten, nothing re-signed. */
export async function storeAlteredEntry(host: string, repo: string, index: number, entry: LogEntry): Promise<void> {
  await storeEntry(clientOf(host, repo), index, entry);
}
