/**
 * Mirroring a repository: every tag of SRC (archives `rev-N`, version tags, and the
 * transparency log's own tags, whatever their layout) copied with its manifest and blobs to
 * DST, byte for byte, so every manifest keeps its digest and the log its hashes. A mirror holds
 * only what the origin signed: clients that pull through it verify the archives against the
 * issuers they trust and the log's checkpoints against the *origin's* key and origin line
 * (docs/transparency-federation.md), so a mirror can serve and cache but cannot lie.
 *
 * Order matters to a reader racing the copy: blobs before the manifest that names them, log
 * checkpoints (`tlog.checkpoint.<n>`, tlog/log/layout.ts) after every other tag — entries,
 * tiles, bundles, `tlog.revision.<r>` pointers — and the latest checkpoint `tlog.checkpoint`
 * last, so DST never shows a checkpoint whose entries or tiles are not there yet. Tags already
 * naming the same digest in DST are skipped; the sequencer's lease (`tlog.sequencer`) is the
 * origin's and is not copied. No other tag of this layout ever moves — `rev-N`,
 * `tlog.entry.<i>`, tiles and pointers are written once, and `tlog.checkpoint.<n>` over the
 * same entries with the same Ed25519 key is the same bytes — so a tag naming another digest in
 * DST is refused (REVISION_EXISTS): one of the two registries was altered, and a mirror must
 * not paper over it. `tlog.checkpoint` may only move forward, to a larger tree. Nor does it copy an
 * archive whose summary states what its claims do not sign: a Gantry config blob is checked
 * (verifiedSummaryOfConfig) before its manifest is copied, and a forged one stops the mirror
 * with SUMMARY_MISMATCH naming the tag and field — the tags copied before it are genuine.
 */
import type { ContentBackend } from './backend.js';
import { RegistryError } from './errors.js';
import { DOCKER_MANIFEST, GANTRY_CONFIG, OCI_INDEX, OCI_MANIFEST } from './media-types.js';
import { parseConfig, verifiedSummaryOfConfig } from './summary.js';
import { checkConfigSize } from './archive-manifest.js';

export interface MirrorReport {
  tags: number;
  /** tags whose manifest was written (the others were already there) */
  copiedTags: number;
  blobs: number;
  bytes: number;
}

interface Descriptor {
  digest: string;
  size?: number;
  mediaType?: string;
}

/** Checkpoints are copied after everything they cover. */
export function isCheckpointTag(tag: string): boolean {
  return /^tlog\.checkpoint\./.test(tag);
}

/** The latest checkpoint of a tiled log (tlog/log/layout.ts): the one log tag that moves, copied last. */
const LATEST_CHECKPOINT = 'tlog.checkpoint';
/** The sequencer's lease names the origin's one writer: a mirror never takes it over. */
const SEQUENCER_LEASE = 'tlog.sequencer';

/** The copy order: everything else, then the checkpoints, then the latest checkpoint. */
function copyOrder(tags: readonly string[]): string[] {
  const rank = (t: string) => (t === LATEST_CHECKPOINT ? 2 : isCheckpointTag(t) ? 1 : 0);
  return tags.filter((t) => t !== SEQUENCER_LEASE).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The tree size a checkpoint manifest's embedded note names (its second line), or undefined. */
async function checkpointSizeOf(backend: ContentBackend, bytes: Uint8Array): Promise<number | undefined> {
  try {
    const layer = JSON.parse(Buffer.from(bytes).toString('utf8'))?.layers?.[0];
    const note =
      typeof layer?.data === 'string' ? Buffer.from(layer.data, 'base64') : Buffer.from(await backend.getBlob(layer.digest, layer.size));
    const size = note.toString('utf8').split('\n')[1];
    return /^(0|[1-9][0-9]{0,15})$/.test(size) ? Number(size) : undefined;
  } catch {
    return undefined;
  }
}

export async function mirrorRepository(
  src: ContentBackend,
  dst: ContentBackend,
  opts: { onTag?(tag: string, copied: boolean): void } = {},
): Promise<MirrorReport> {
  const tags = await src.listTags();
  const ordered = copyOrder(tags);
  const dstTags = new Set(await dst.listTags());
  const report: MirrorReport = { tags: ordered.length, copiedTags: 0, blobs: 0, bytes: 0 };
  const copiedManifests = new Set<string>();

  const copyBlob = async (d: Descriptor, read?: Uint8Array) => {
    if (await dst.hasBlob(d.digest)) return;
    const bytes = read ?? (await src.getBlob(d.digest, d.size));
    await dst.putBlob(d.digest, bytes);
    report.blobs++;
    report.bytes += bytes.length;
  };
  // a manifest's content first (blobs, or an index's child manifests by digest), then itself
  const copyManifest = async (reference: string, tag: string): Promise<string> => {
    const m = await src.getManifest(reference);
    if (!m) throw new RegistryError('NOT_FOUND', `${src.description}: ${reference} is listed but has no manifest`);
    if (!copiedManifests.has(m.digest)) {
      let doc: { mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
      try {
        doc = JSON.parse(Buffer.from(m.bytes).toString('utf8'));
      } catch {
        throw new RegistryError('BAD_MANIFEST', `${src.description}:${tag}: the manifest is not JSON`);
      }
      if (doc.config) await copyBlob(doc.config, await checkedConfig(src, doc.config, `${src.description}:${tag}`));
      for (const l of doc.layers ?? []) await copyBlob(l);
      for (const child of doc.manifests ?? []) await copyManifest(child.digest, child.digest);
      copiedManifests.add(m.digest);
    }
    const mediaType = m.mediaType && [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].includes(m.mediaType) ? m.mediaType : OCI_MANIFEST;
    await dst.putManifest(tag, m.bytes, mediaType);
    return m.digest;
  };

  for (const tag of ordered) {
    if (dstTags.has(tag)) {
      const [a, b] = await Promise.all([src.getManifest(tag), dst.getManifest(tag)]);
      if (a && b && a.digest === b.digest) {
        opts.onTag?.(tag, false);
        continue;
      }
      // the latest checkpoint moves forward: a larger tree of the origin replaces the mirror's
      if (a && b && tag === LATEST_CHECKPOINT && (await movesForward(src, a.bytes, dst, b.bytes))) {
        await copyManifest(tag, tag);
        report.copiedTags++;
        opts.onTag?.(tag, true);
        continue;
      }
      if (a && b) {
        throw new RegistryError(
          'REVISION_EXISTS',
          `${dst.description}:${tag} names ${b.digest} but ${src.description}:${tag} names ${a.digest}; a published tag never moves, so one of the two registries was altered — not overwriting it`,
        );
      }
    }
    await copyManifest(tag, tag);
    report.copiedTags++;
    opts.onTag?.(tag, true);
  }
  return report;
}

/** The origin's latest checkpoint is of a larger tree than the mirror's (equal sizes with other bytes are two stories: refused). */
async function movesForward(src: ContentBackend, srcBytes: Uint8Array, dst: ContentBackend, dstBytes: Uint8Array): Promise<boolean> {
  const [from, to] = await Promise.all([checkpointSizeOf(dst, dstBytes), checkpointSizeOf(src, srcBytes)]);
  return from !== undefined && to !== undefined && to > from;
}

/** A Gantry config blob's bytes once its summary is shown to be what its claims sign; other configs: undefined (read when copied). */
async function checkedConfig(src: ContentBackend, config: Descriptor, where: string): Promise<Uint8Array | undefined> {
  if (config.mediaType !== GANTRY_CONFIG) return undefined;
  checkConfigSize({ mediaType: config.mediaType, digest: config.digest, size: config.size ?? -1 }, where);
  const bytes = await src.getBlob(config.digest, config.size);
  // expired claims are still the origin's genuine archive: a mirror copies them, pull refuses them
  verifiedSummaryOfConfig(parseConfig(bytes, where), where, { anyTime: true });
  return bytes;
}
