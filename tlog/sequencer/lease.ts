/**
 * The sequencer's lease on a repository's log: the tag tlog.sequencer (layout.ts), a small
 * manifest whose annotations name the sequencer's URL, when it started, a random lease id and,
 * once it stopped, when it released the lease. While a lease is held (present, not released)
 * the repository has one writer: the sequencer appends without Fischer's wait (append.ts,
 * `exclusive`), and every other appender refuses with TLOG_SEQUENCED naming the URL.
 *
 * Release overwrites the tag with a "released" marker rather than deleting it: registries
 * often disable manifest deletion (distribution's default), and a marker also records who
 * held the log last. A tag that is not a lease at all fails closed (TLOG_SEQUENCED): nobody
 * appends until someone looks at it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContentBackend } from '../../registry/backend.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { TlogError } from '../errors.js';
import { manifestFor } from '../log/artifact.js';
import { SEQUENCER_TAG } from '../log/layout.js';
import { putArtifactBlobs } from '../log/store.js';

export const SEQUENCER_ARTIFACT_TYPE = 'application/vnd.gantry.log.sequencer.v1';
export const SEQUENCER_MEDIA_TYPE = 'application/vnd.gantry.log.sequencer.v1+json';
export const LEASE_URL_ANNOTATION = 'dev.gantry.sequencer.url';
export const LEASE_STARTED_ANNOTATION = 'dev.gantry.sequencer.started';
export const LEASE_ID_ANNOTATION = 'dev.gantry.sequencer.lease';
export const LEASE_RELEASED_ANNOTATION = 'dev.gantry.sequencer.released';

export interface Lease {
  url: string;
  started: string;
  id: string;
  /** when the sequencer released it; a released lease holds nothing */
  released?: string;
  /** the manifest digest of the tag as read (a lease is ours while the tag still names it) */
  digest: string;
}

/** The lease manifest's bytes: the fields as annotations and as the layer's JSON. */
export function leaseManifest(lease: Omit<Lease, 'digest'>): { manifest: Uint8Array; content: Uint8Array } {
  const fields: Record<string, string> = {
    [LEASE_URL_ANNOTATION]: lease.url,
    [LEASE_STARTED_ANNOTATION]: lease.started,
    [LEASE_ID_ANNOTATION]: lease.id,
    ...(lease.released ? { [LEASE_RELEASED_ANNOTATION]: lease.released } : {}),
  };
  const content = new Uint8Array(Buffer.from(JSON.stringify(fields)));
  return { manifest: manifestFor(SEQUENCER_ARTIFACT_TYPE, SEQUENCER_MEDIA_TYPE, content, 'sequencer.json', fields), content };
}

/**
 * Reads a lease manifest. Anything under tlog.sequencer that is not one is refused as
 * TLOG_SEQUENCED: an unreadable lease must stop appends, not be ignored.
 */
export function parseLease(bytes: Uint8Array, digest: string, where: string): Lease {
  let m: { artifactType?: unknown; annotations?: Record<string, unknown> } | null;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    m = null;
  }
  const a = m?.annotations;
  const url = a?.[LEASE_URL_ANNOTATION];
  const started = a?.[LEASE_STARTED_ANNOTATION];
  const id = a?.[LEASE_ID_ANNOTATION];
  const released = a?.[LEASE_RELEASED_ANNOTATION];
  if (
    m?.artifactType !== SEQUENCER_ARTIFACT_TYPE ||
    typeof url !== 'string' ||
    !/^https?:\/\/[^\s]+$/.test(url) ||
    typeof started !== 'string' ||
    typeof id !== 'string' ||
    (released !== undefined && typeof released !== 'string')
  ) {
    throw new TlogError(
      'TLOG_SEQUENCED',
      `${where}:${SEQUENCER_TAG} is not a sequencer lease (${SEQUENCER_ARTIFACT_TYPE} with url, started and lease annotations); no append is made until it is fixed or removed`,
    );
  }
  return { url, started, id, digest, ...(released !== undefined ? { released } : {}) };
}

/** The repository's lease as stored (held or released), or undefined when there is none. */
export async function readLease(backend: ContentBackend): Promise<Lease | undefined> {
  const m = await backend.getManifest(SEQUENCER_TAG);
  return m ? parseLease(m.bytes, m.digest, backend.description) : undefined;
}

/** The lease when one is held (present and not released). */
export async function heldLease(backend: ContentBackend): Promise<Lease | undefined> {
  const lease = await readLease(backend);
  return lease && lease.released === undefined ? lease : undefined;
}

/** Refuses (TLOG_SEQUENCED, naming the sequencer) when a sequencer holds the log: for appenders that are not it. */
export async function refuseIfSequenced(backend: ContentBackend): Promise<void> {
  const lease = await heldLease(backend);
  if (lease) {
    throw new TlogError(
      'TLOG_SEQUENCED',
      `${backend.description}: the log is appended by the sequencer at ${lease.url} (lease since ${lease.started}); push with --log-sequencer ${lease.url}`,
    );
  }
}

/**
 * Takes the lease: refuses (TLOG_SEQUENCED) when another sequencer holds it, unless
 * `takeOver` (for one known to be dead); writes ours, then waits `waitMs` — the timing rule's
 * confirmation D — so that an append that began before the lease was visible has finished its
 * claim (or seen the lease) before the caller serves; then confirms the tag still names ours
 * (another sequencer starting at the same moment: the later write wins, the other refuses).
 */
export async function takeLease(
  backend: ContentBackend,
  opts: { url: string; waitMs: number; takeOver?: boolean; now?: () => Date },
): Promise<Lease> {
  const held = await heldLease(backend);
  if (held && !opts.takeOver) {
    throw new TlogError(
      'TLOG_SEQUENCED',
      `${backend.description}: the sequencer at ${held.url} holds the log (lease since ${held.started}); stop it first, or if it is dead start with --take-over`,
    );
  }
  const fields = { url: opts.url, started: (opts.now ?? (() => new Date()))().toISOString(), id: crypto.randomUUID() };
  const { manifest, content } = leaseManifest(fields);
  await putArtifactBlobs(backend, content);
  const digest = await backend.putManifest(SEQUENCER_TAG, manifest, OCI_MANIFEST);
  await sleep(opts.waitMs);
  const lease = { ...fields, digest };
  await checkLease(backend, lease);
  return lease;
}

/** The tag still names this lease, else TLOG_SEQUENCER_REFUSED: another sequencer took the log over. */
export async function checkLease(backend: ContentBackend, lease: Lease): Promise<void> {
  const now = await readLease(backend);
  if (now?.digest !== lease.digest) {
    throw new TlogError(
      'TLOG_SEQUENCER_REFUSED',
      `${backend.description}: this sequencer (${lease.url}) no longer holds the log's lease: ${now ? `${now.url} ${now.released ? 'released it' : 'took it over'}` : 'the lease tag was removed'}; it appends nothing more`,
    );
  }
}

/** Overwrites our lease with a released marker (only while it is still ours: never another's). */
export async function releaseLease(backend: ContentBackend, lease: Lease, now = new Date()): Promise<boolean> {
  const current = await readLease(backend);
  if (current?.digest !== lease.digest) return false;
  const { manifest, content } = leaseManifest({ url: lease.url, started: lease.started, id: lease.id, released: now.toISOString() });
  await putArtifactBlobs(backend, content);
  await backend.putManifest(SEQUENCER_TAG, manifest, OCI_MANIFEST);
  return true;
}
