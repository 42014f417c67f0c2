/**
 * A 1,000,000-entry log, generated directly as tiles (bench/support/tlog-scale.ts: a handful of
 * revision tags, the checkpoint, no entry tags below it), read by the controller's witness
 * through a request-counting backend: an uncached check of a newly appended revision stays
 * within 50 requests, a fork planted below the trusted size is TLOG_FORK within the same
 * budget, and a tampered tile is TLOG_TILE_MISMATCH. The log lives in an OCI image-layout
 * directory, written in bulk (one index.json write for its ~7,800 tile tags): a registry would
 * take ~30,000 uploads to fill, which bench/tlog.ts pays and times; what is asserted here is
 * the number of requests, which is the same for both backends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedArchive } from '../../api/provider.js';
import { CountingBackend, generateTiledLog, type GeneratedLog, publishCheckpoint, scaleEntry } from '../../bench/support/tlog-scale.js';
import { RegistryLogWitness } from '../../controller/providers/archive/log-witness.js';
import { ResolveFailure } from '../../controller/providers/archive/resolver.js';
import { sha256Digest } from '../../registry/digest.js';
import { ImageLayoutBackend } from '../../registry/index.js';
import { OCI_INDEX, OCI_MANIFEST, REF_NAME_ANNOTATION } from '../../registry/media-types.js';
import {
  appendToLog,
  encodeBase64,
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  type LogEntry,
  parseSignerKey,
  signNote,
  storeTiles,
  tagOfTile,
  tileManifest,
  tiles,
} from '../../tlog/index.js';

const SIZE = 1_000_000;
const BUDGET = 50;
const dir = mkdtempSync(join(tmpdir(), 'gantry-tiles-scale-'));
const ref = `oci-layout:${dir}`;
const origin = 'registry.example/acme/scale';
const key = generateNoteKey(origin);
const signer = parseSignerKey(key.signerKey);
const backend = new ImageLayoutBackend(dir);
let log: GeneratedLog;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Tiles into the layout in one index write: blobs (layer and manifest), then every tag at once. */
async function bulkStore(writes: tiles.TileWrite[]): Promise<void> {
  const manifests = [];
  await backend.putBlob(sha256Digest(new Uint8Array(Buffer.from('{}'))), new Uint8Array(Buffer.from('{}')));
  for (const w of writes) {
    const m = tileManifest(w);
    await backend.putBlob(sha256Digest(w.bytes), w.bytes);
    await backend.putBlob(sha256Digest(m), m);
    manifests.push({
      mediaType: OCI_MANIFEST,
      digest: sha256Digest(m),
      size: m.length,
      annotations: { [REF_NAME_ANNOTATION]: tagOfTile(w) },
    });
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

/** The witness as the controller runs it, uncached, its requests counted. */
function countedWitness(): { w: RegistryLogWitness; counted: () => number } {
  const opened: CountingBackend[] = [];
  const w = new RegistryLogWitness({
    verifierKeys: [key.verifierKey],
    recheckMs: 0,
    openBackend: () => {
      const b = new CountingBackend(backend);
      opened.push(b);
      return b;
    },
  });
  return { w, counted: () => opened.reduce((n, b) => n + b.requests, 0) };
}

function resolvedOf(e: LogEntry): ResolvedArchive {
  return { ...e, targets: ['x86_64-linux'] };
}

const trusted = () => ({ origin, size: log.size, rootHash: encodeBase64(log.root) });

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ResolveFailure) return { code: (e as ResolveFailure & { code?: string }).code, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  log = await generateTiledLog(backend, { size: SIZE, signer, origin, indexed: [0, SIZE / 2, SIZE - 1], store: bulkStore });
}, 600_000);

describe('a 1,000,000-entry tiled log', () => {
  it(`an uncached witness check of a newly appended revision takes ≤ ${BUDGET} requests`, async () => {
    const fresh = scaleEntry(SIZE);
    const appended = await appendToLog(backend, fresh, { signer, origin, deltaMs: 200, waitMs: 300 });
    expect(appended).toMatchObject({ index: SIZE, appended: true });
    expect(appended.checkpoint.checkpoint.size).toBe(SIZE + 1);
    const { w, counted } = countedWitness();
    const memory = await w.check({ ref, origin, resolved: resolvedOf(fresh), previous: trusted(), required: true });
    expect(memory).toMatchObject({ origin, size: SIZE + 1, revisionIndex: SIZE });
    expect(counted()).toBeLessThanOrEqual(BUDGET);
    // an old revision, through its pointer and the tree, within the same budget
    const mid = countedWitness();
    const old = scaleEntry(SIZE / 2);
    expect(await mid.w.check({ ref, origin, resolved: resolvedOf(old), previous: trusted(), required: true })).toMatchObject({
      revisionIndex: SIZE / 2,
    });
    expect(mid.counted()).toBeLessThanOrEqual(BUDGET);
  }, 120_000);

  it('a tampered tile is TLOG_TILE_MISMATCH', async () => {
    const id = { level: 0, index: Math.floor(SIZE / 2 / 256), width: 256 };
    const original = (await log.tiles.hashTile(id))!;
    const tampered = new Uint8Array(original);
    tampered[((SIZE / 2) % 256) * 32] ^= 1;
    await storeTiles(backend, [{ kind: 'hash', path: tiles.hashTilePath(id), id, bytes: tampered }]);
    const { w, counted } = countedWitness();
    const f = await refusal(w.check({ ref, origin, resolved: resolvedOf(scaleEntry(SIZE / 2)), previous: trusted(), required: true }));
    expect(f.code).toBe('TLOG_TILE_MISMATCH');
    expect(counted()).toBeLessThanOrEqual(BUDGET);
    await storeTiles(backend, [{ kind: 'hash', path: tiles.hashTilePath(id), id, bytes: original }]);
  }, 120_000);

  it(`a fork planted below the trusted size (a re-signed checkpoint over a rewritten leaf) is TLOG_FORK within ${BUDGET} requests`, async () => {
    // the tree grows again from the last full bundle, with one entry of the trusted tree rewritten
    const from = SIZE - (SIZE % 256);
    const rewritten = Array.from({ length: SIZE + 2 - from }, (_, i) => scaleEntry(from + i));
    rewritten[3] = { ...rewritten[3], version: 'forked' };
    const forked = await tiles.growTiles(
      log.tiles,
      from,
      rewritten.map((e) => encodeEntry(e)),
    );
    await storeTiles(backend, forked.writes);
    await publishCheckpoint(
      backend,
      forked.size,
      signNote(formatCheckpoint({ origin, size: forked.size, root: forked.root, extensions: [] }), [signer]),
    );
    const { w, counted } = countedWitness();
    const f = await refusal(w.check({ ref, origin, resolved: resolvedOf(scaleEntry(SIZE + 1)), previous: trusted(), required: true }));
    expect(f.code).toBe('TLOG_FORK');
    expect(f.message).toContain(`the first ${SIZE} entries of this log hash to`);
    expect(counted()).toBeLessThanOrEqual(BUDGET);
  }, 120_000);
});
