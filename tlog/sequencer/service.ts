/**
 * The sequencer's work (docs/transparency.md "The sequencer"): for each repository it holds the
 * lease of, it appends — one append at a time per repository, without Fischer's wait — the
 * entry of a revision it has read from the registry and verified itself (the archive's
 * signature, a trusted issuer, the bytes against their signed hashes, the summary against the
 * claims). A client only names the revision: nothing it says goes into the log unchecked, so
 * the API needs no credentials of its own. It also answers monitors whether a checkpoint is
 * consistent with the log it appends to.
 */
import { type ArchiveStore, type ContentBackend, RegistryError, revisionTag } from '../../registry/index.js';
import { encodeBase64 } from '../base64.js';
import type { LogEntry } from '../entry.js';
import { TlogError } from '../errors.js';
import { appendToLog } from '../log/append.js';
import { verifyCheckpointNote } from '../log/read.js';
import { openTiledLog } from '../log/tiled.js';
import { parseVerifierKey, type NoteSigner } from '../note.js';
import { checkLease, type Lease } from './lease.js';
import { SequencerRequestError, type AppendRequest, type ConsistentRequest } from './requests.js';

/** One repository the sequencer appends to. */
export interface ServedLog {
  /** HOST[:PORT]/REPOSITORY, as clients name it */
  ref: string;
  store: ArchiveStore;
  backend: ContentBackend;
  /** the log's origin line (default: ref) */
  origin?: string;
  lease: Lease;
}

export interface AppendReply {
  repository: string;
  revision: number;
  digest: string;
  index: number;
  /** false when the revision was already logged (the same entry) */
  appended: boolean;
  treeSize: number;
  /** the signed checkpoint note covering the entry */
  checkpoint: string;
}

export interface ConsistentReply {
  consistent: true;
  from: number;
  to: number;
  /** the consistency proof from the given checkpoint to `checkpoint`, base64 hashes */
  proof: string[];
  /** the sequencer's latest checkpoint */
  checkpoint: string;
}

export class Sequencer {
  private readonly logs = new Map<string, ServedLog>();
  /** per repository, the tail of its append queue */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly signer: NoteSigner,
    logs: readonly ServedLog[],
    private readonly trustedIssuers: readonly string[],
  ) {
    if (!trustedIssuers.length) throw new TlogError('TLOG_SEQUENCER_REFUSED', 'a sequencer needs the issuers it trusts (--trusted-issuer)');
    for (const l of logs) this.logs.set(l.ref, l);
  }

  get served(): ServedLog[] {
    return [...this.logs.values()];
  }

  /** Appends requests in arrival order per repository; every append waits for the one before. */
  append(req: AppendRequest): Promise<AppendReply> {
    const log = this.logFor(req.repository);
    const run = (this.queues.get(log.ref) ?? Promise.resolve()).then(
      () => this.appendNow(log, req),
      () => this.appendNow(log, req),
    );
    this.queues.set(
      log.ref,
      run.catch(() => {}),
    );
    return run;
  }

  /** Waits for every queued append (before releasing the leases). */
  async drain(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  private logFor(ref: string): ServedLog {
    const log = this.logs.get(ref);
    if (!log)
      throw new SequencerRequestError(
        404,
        'NOT_SERVED',
        `this sequencer does not append to ${ref}; it serves ${[...this.logs.keys()].join(', ')}`,
      );
    return log;
  }

  private async appendNow(log: ServedLog, req: AppendRequest): Promise<AppendReply> {
    // a sequencer that lost its lease (taken over) must not write another entry; read beside
    // what rev-N names now (one manifest GET: the pull below verifies everything it says)
    const [, tagged] = await Promise.all([checkLease(log.backend, log.lease), log.backend.getManifest(revisionTag(req.revision))]);
    if (!tagged)
      throw new RegistryError(
        'REVISION_NOT_FOUND',
        `${log.ref}: revision ${req.revision} is not published (no ${revisionTag(req.revision)} tag)`,
      );
    if (req.digest !== undefined && tagged.digest !== req.digest) {
      throw new TlogError(
        'TLOG_TAG_MISMATCH',
        `${log.ref}: revision ${req.revision} is published as ${tagged.digest}, not ${req.digest} as asked; it was re-pointed since the push`,
      );
    }
    const entry = await this.verifiedEntry(log, tagged.digest);
    if (entry.revision !== req.revision) {
      throw new TlogError(
        'TLOG_TAG_MISMATCH',
        `${log.ref}: ${revisionTag(req.revision)} names ${tagged.digest}, an archive signed as revision ${entry.revision}`,
      );
    }
    const done = await appendToLog(log.backend, entry, {
      signer: this.signer,
      origin: log.origin,
      exclusive: true,
      // revisions pushed before the log existed are logged first, each verified the same way
      backfill: async () => {
        const older = (await log.store.revisions()).filter((r) => r.revision !== entry.revision);
        const out: LogEntry[] = [];
        for (const r of older) out.push(await this.verifiedEntry(log, r.digest));
        return out;
      },
    });
    return {
      repository: log.ref,
      revision: entry.revision,
      digest: entry.digest,
      index: done.index,
      appended: done.appended,
      treeSize: done.checkpoint.checkpoint.size,
      checkpoint: done.checkpoint.note,
    };
  }

  /** The entry of manifest `digest`, from its archive pulled and verified in full (PAR_*, DIGEST_MISMATCH, SUMMARY_MISMATCH). */
  private async verifiedEntry(log: ServedLog, digest: string): Promise<LogEntry> {
    const { claims } = (await log.store.pull(digest, { trustedIssuers: [...this.trustedIssuers] })).verified;
    return {
      revision: claims.revision,
      digest,
      issuer: claims.issuer,
      subject: claims.subject,
      capid: claims.capid ?? '',
      version: claims.version ?? '',
    };
  }

  /**
   * Whether `req.checkpoint` (signed by this sequencer's key) is consistent with the log as the
   * sequencer sees it: the proof from it to the latest checkpoint, or TLOG_ROLLBACK (it is
   * larger than the latest) / TLOG_FORK (its root is not the log's at its size).
   */
  async consistent(req: ConsistentRequest): Promise<ConsistentReply> {
    const log = req.repository !== undefined ? this.logFor(req.repository) : this.logOfOrigin(req.checkpoint);
    const origin = log.origin ?? log.ref;
    const own = [parseVerifierKey(this.signer.verifierKey)];
    const given = verifyCheckpointNote(req.checkpoint, own, origin).checkpoint;
    // O(log n): the latest checkpoint and the proof come from the tiles (an untiled log is read the old way)
    const repo = await openTiledLog(log.backend, { origin });
    const latest = await repo.latestCheckpoint(own);
    if (given.size > latest.checkpoint.size) {
      throw new TlogError(
        'TLOG_ROLLBACK',
        `${log.ref}: the checkpoint given has ${given.size} entries, the log's latest has ${latest.checkpoint.size}: the registry rolled the log back, or the checkpoint is of a fork`,
      );
    }
    const proof = await repo.checkExtends(given, latest.checkpoint);
    return { consistent: true, from: given.size, to: latest.checkpoint.size, proof: proof.map(encodeBase64), checkpoint: latest.note };
  }

  private logOfOrigin(note: string): ServedLog {
    const origin = note.split('\n', 1)[0];
    const log = [...this.logs.values()].find((l) => (l.origin ?? l.ref) === origin);
    if (!log)
      throw new SequencerRequestError(
        404,
        'NOT_SERVED',
        `the checkpoint is of the log ${JSON.stringify(origin)}, which this sequencer does not append to`,
      );
    return log;
  }
}
