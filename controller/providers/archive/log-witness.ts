/**
 * The controller as a witness of each repository's transparency log (tlog/, docs/transparency.md):
 * before a resolved revision may run, the repository's latest checkpoint must be signed by a
 * trusted log key (the controller's --log-key, cluster policy beside --trust-issuer), name the
 * repository's log (its origin — the origin registry's, also when the archive is fetched
 * through a mirror), hash to the stored entries, include the revision with exactly the digest
 * and claims that resolved, and extend the last checkpoint this Provider accepted (kept in
 * `status.log`, so a restarted controller remembers). Anything else is `LogInconsistent` with
 * the evidence — a fork, a rollback (a smaller tree, or the log deleted), a re-pointed tag, a
 * bad signature — and the resolve phase keeps the old digest serving.
 *
 * A repository without a log is accepted as before, unless a log is required (the controller's
 * --require-log, or the Provider's spec.archive.requireLog): then `LogMissing`. A Provider that
 * already accepted a checkpoint of a log whose tags are now gone is a rollback, not "no log".
 * A log is read through its tiles (tlog/log/tiled.ts): the latest checkpoint at most once per
 * `recheckMs` per repository, then per check the revision's pointer and the O(log n) tiles its
 * proofs need — immutable, so kept across checks in one cache per repository (a tile that
 * fails to authenticate drops that repository's cache). A log written before tiles is read
 * the old way (one GET per entry) behind the same interface.
 */
import type { LogMemory, ResolvedArchive } from '../../../api/provider.js';
import { openContentBackend, revisionTag, type TransferLimits } from '../../../registry/index.js';
import type { RegistryCredentials } from '../../../registry/distribution/auth.js';
import {
  type Checkpoint,
  decodeBase64,
  EntriesLog,
  encodeBase64,
  encodeEntry,
  isTlogError,
  type LogEntry,
  type LogReader,
  leafHash,
  openTiledLog,
  parseTrustedLogKey,
  type NoteVerifier,
  readEntry,
  registryTileSource,
  type TlogError,
  tiles,
  type VerifiedCheckpoint,
  verifyInclusion,
} from '../../../tlog/index.js';
import type { ControllerMetrics } from '../../metrics.js';
import { ResolveFailure } from './resolver.js';

export interface LogCheck {
  /** where the archive was resolved (the origin repository, or a mirror of it) */
  ref: string;
  /** the log's origin line: the origin repository HOST/PATH (a mirror serves the origin's log) */
  origin: string;
  resolved: ResolvedArchive;
  /** this Provider's memory (status.log) */
  previous?: LogMemory;
  required: boolean;
  credentials?: RegistryCredentials;
}

export interface LogWitness {
  /** The memory to keep after accepting `resolved`, or undefined when the repository has no log (and none is required). Throws ResolveFailure. */
  check(c: LogCheck): Promise<LogMemory | undefined>;
  /**
   * The highest revision the latest verified checkpoint includes (undefined: no log, or no keys).
   * With a log, "the highest published revision" is this one: a revision tagged but not yet
   * logged (a push in flight, which tags before it logs) is not offered.
   */
  highestLogged(c: Omit<LogCheck, 'resolved' | 'previous' | 'required'>): Promise<number | undefined>;
}

export interface LogWitnessOptions {
  /** trusted log verifier keys (C2SP note keys, name+hash+base64) */
  verifierKeys: string[];
  /** refuse repositories without a log, for every Provider */
  requireLog?: boolean;
  plainHttpRegistries?: string[];
  caFile?: string;
  timeoutMs?: number;
  /** every registry request's deadline and minimum transfer rate (default DEFAULT_TRANSFER_LIMITS) */
  transferLimits?: TransferLimits;
  /** how long an opened log is reused before the registry is read again (default 15 s) */
  recheckMs?: number;
  metrics?: ControllerMetrics;
  /** how a repository is opened (default openContentBackend): benches and tests count requests through it */
  openBackend?: typeof openContentBackend;
}

export function parseLogKeys(keys: string[]): NoteVerifier[] {
  return keys.map((k) => parseTrustedLogKey(k));
}

export class RegistryLogWitness implements LogWitness {
  private readonly verifiers: NoteVerifier[];
  private readonly opened = new Map<string, { at: number; log: Promise<OpenedLog> }>();
  /** per repository: its immutable tiles read so far, and the backend the next reads go to */
  private readonly tileCaches = new Map<string, { via: { source?: tiles.TileSource }; cache: tiles.TileSource }>();

  constructor(private readonly opts: LogWitnessOptions) {
    this.verifiers = parseLogKeys(opts.verifierKeys);
  }

  async check(c: LogCheck): Promise<LogMemory | undefined> {
    const end = this.opts.metrics?.logCheckDuration.startTimer();
    try {
      const memory = await this.checkOnce(c);
      this.opts.metrics?.logChecks.inc({ result: memory ? 'verified' : 'no_log' });
      if (memory) this.opts.metrics?.logTreeSize.set({ origin: c.origin }, memory.size);
      return memory;
    } catch (e) {
      // Stryker disable next-line StringLiteral: any reason other than the two below counts as an error
      const reason = e instanceof ResolveFailure ? e.reason : 'error';
      this.opts.metrics?.logChecks.inc({
        result: reason === 'LogInconsistent' ? 'inconsistent' : reason === 'LogMissing' ? 'missing' : 'error',
      });
      // Stryker disable next-line StringLiteral: every LogInconsistent is made by inconsistent() below, with its code
      const code = (e as ResolveFailure & { code?: string }).code ?? 'unknown';
      if (reason === 'LogInconsistent') this.opts.metrics?.logInconsistencies.inc({ code });
      throw e;
    } finally {
      end?.();
    }
  }

  async highestLogged(c: Omit<LogCheck, 'resolved' | 'previous' | 'required'>): Promise<number | undefined> {
    if (this.verifiers.length === 0) return undefined; // without keys the registry is not read
    const { reader, latest } = await this.open(c as LogCheck);
    // latestCheckpoint refuses a log without checkpoints too (TLOG_NO_LOG); this spares the throw
    // Stryker disable next-line ConditionalExpression: as above
    if (reader.empty) return undefined;
    // a checkpoint that does not verify offers nothing; the check proper reports what is wrong
    const cp = await latest().then(
      (v) => v.checkpoint,
      () => undefined,
    );
    return cp ? reader.highestRevision(cp) : undefined;
  }

  private async checkOnce(c: LogCheck): Promise<LogMemory | undefined> {
    const required = c.required || !!this.opts.requireLog;
    const remembered = c.previous?.origin === c.origin ? c.previous : undefined;
    if (this.verifiers.length === 0) {
      if (required)
        throw new ResolveFailure(
          'LogMissing',
          `${c.ref}: a transparency log is required, but the controller trusts no log key; add --log-key (the gantry-trust ConfigMap's log-keys)`,
          false,
        );
      return undefined;
    }
    const { reader: log, latest: cached } = await this.open(c);
    const where = `${c.ref} revision ${c.resolved.revision}`;
    if (log.empty) {
      if (remembered)
        throw inconsistent(
          'TLOG_ROLLBACK',
          `${where}: the log ${c.origin} is gone, but this Provider accepted its checkpoint of size ${remembered.size} before; the registry deleted or rolled back the log`,
        );
      if (required)
        throw new ResolveFailure(
          'LogMissing',
          `${where}: the repository has no transparency log, and a log is required (${c.required ? 'spec.archive.requireLog' : "the controller's --require-log"}); publish with gantry par push --log-key`,
          false,
        );
      return undefined;
    }
    try {
      const trusted = remembered && trustedOf(remembered, where);
      let latest = await cached();
      // tlog.checkpoint may lag behind a checkpoint this Provider accepted (two writers raced)
      if (trusted && latest.checkpoint.size < trusted.size) latest = await log.latestCheckpoint(this.verifiers, trusted);
      const cp = latest.checkpoint;
      // Stryker disable next-line ArrayDeclaration: checkExtends reads sizes and roots only
      if (trusted) await log.checkExtends(trusted, cp);
      const found = await log.findRevision(c.resolved.revision, cp);
      if (!found) throw await unlogged(log, cp, c, where);
      const { index, entry: e } = found;
      // proves (and checks) the entry is in the signed tree
      verifyInclusion(leafHash(encodeEntry(e)), index, cp.size, await log.tree(cp).inclusionProof(index), cp.root);
      if (e.digest !== c.resolved.digest) {
        throw inconsistent(
          'TLOG_TAG_MISMATCH',
          `${where}: the tag ${revisionTag(c.resolved.revision)} names ${c.resolved.digest}, but log entry ${index} (checkpoint of size ${cp.size}) records ${e.digest}; the tag was re-pointed`,
        );
      }
      const differs = (
        [
          ['issuer', e.issuer, c.resolved.issuer ?? ''],
          ['subject', e.subject, c.resolved.subject ?? ''],
          ['capid', e.capid, c.resolved.capid ?? ''],
          ['version', e.version, c.resolved.version ?? ''],
        ] as const
      ).filter(([, a, b]) => a !== b);
      if (differs.length)
        throw inconsistent(
          'TLOG_TAG_MISMATCH',
          `${where}: the archive's signed ${differs.map(([k, a, b]) => `${k} ${JSON.stringify(b)} (log: ${JSON.stringify(a)})`).join(', ')} disagree with log entry ${index}`,
        );
      return { origin: c.origin, size: cp.size, rootHash: encodeBase64(cp.root), checkpoint: latest.note, revisionIndex: index };
    } catch (err) {
      // a tile that did not authenticate is not kept: the next check reads the registry again
      if (isTlogError(err) && err.code.startsWith('TLOG_TILE_')) this.forget(c);
      throw isTlogError(err) ? refusal(err, where) : err;
    }
  }

  private forget(c: LogCheck): void {
    this.opened.delete(keyOf(c));
    this.tileCaches.delete(keyOf(c));
  }

  private open(c: LogCheck): Promise<OpenedLog> {
    const key = keyOf(c);
    const hit = this.opened.get(key);
    // Stryker disable next-line EqualityOperator: one millisecond
    if (hit && Date.now() - hit.at < (this.opts.recheckMs ?? 15_000)) return hit.log;
    // Stryker disable next-line ObjectLiteral: only a registry reads these (log-witness.test.ts runs against a plain-HTTP one)
    const backend = (this.opts.openBackend ?? openContentBackend)(c.ref, {
      plainHttpRegistries: this.opts.plainHttpRegistries,
      caFile: this.opts.caFile,
      timeoutMs: this.opts.timeoutMs,
      transferLimits: this.opts.transferLimits,
      credentials: c.credentials,
    });
    let shared = this.tileCaches.get(key);
    if (!shared) {
      const via: { source?: tiles.TileSource } = {};
      const cache = tiles.cachedTileSource({
        hashTile: (t) => (via.source as tiles.TileSource).hashTile(t),
        bundle: (b) => (via.source as tiles.TileSource).bundle(b),
      });
      shared = { via, cache };
      this.tileCaches.set(key, shared);
    }
    // tiles not yet cached are read with this open's backend (its credentials)
    shared.via.source = registryTileSource(backend);
    const log = openTiledLog(backend, { origin: c.origin, tiles: shared.cache }).then((reader) => {
      let latest: Promise<VerifiedCheckpoint> | undefined;
      return { reader, latest: () => (latest ??= reader.latestCheckpoint(this.verifiers)) };
    });
    this.opened.set(key, { at: Date.now(), log });
    log.catch(() => this.opened.delete(key)); // a failed read is not cached
    return log;
  }
}

interface OpenedLog {
  reader: LogReader;
  /** the latest checkpoint, verified once per open */
  latest: () => Promise<VerifiedCheckpoint>;
}

function keyOf(c: Pick<LogCheck, 'ref' | 'origin'>): string {
  return `${c.ref}|${c.origin}`;
}

/** The checkpoint a Provider remembers, as the log library takes it. */
function trustedOf(remembered: LogMemory, where: string): Checkpoint {
  const root = decodeBase64(remembered.rootHash);
  if (!root)
    throw inconsistent(
      'TLOG_CHECKPOINT_MALFORMED',
      `${where}: status.log.rootHash is not base64; clear status.log only if you trust the log as it is now`,
    );
  return { origin: remembered.origin, size: remembered.size, root, extensions: [] };
}

/** Why a revision the tree of `cp` does not log is refused: outside the log, or logged after `cp` (an interrupted push). */
async function unlogged(log: LogReader, cp: Checkpoint, c: LogCheck, where: string): Promise<Error> {
  const index = await pendingIndex(log, cp, c.resolved.revision);
  if (index === undefined)
    return inconsistent(
      'TLOG_UNLOGGED_REVISION',
      `${where} (${c.resolved.digest}) has no entry in the log ${c.origin} (checkpoint of size ${cp.size}); it was published outside the log`,
    );
  return inconsistent(
    'TLOG_UNLOGGED_REVISION',
    `${where} is log entry ${index}, not yet included in the latest signed checkpoint (size ${cp.size}); an interrupted push — push the archive again to checkpoint it`,
  );
}

/** Entries stored after a checkpoint looked at for a revision (an interrupted push leaves one or a few). */
const PENDING_PROBE = 16;

async function pendingIndex(log: LogReader, cp: Checkpoint, revision: number): Promise<number | undefined> {
  if (log instanceof EntriesLog) return log.log.indexOfRevision(revision);
  for (let i = cp.size; i < cp.size + PENDING_PROBE; i++) {
    const e: LogEntry | undefined = await readEntry(log.backend, i);
    if (!e) return undefined;
    if (e.revision === revision) return i;
  }
  return undefined;
}

/**
 * The log library's refusal as the Provider's: a checkpoint signed by a trusted key that is
 * trusted for other origins is not this log's word (LogKeyNotForOrigin); all else is evidence
 * of an inconsistent log.
 */
function refusal(err: TlogError, where: string): ResolveFailure {
  if (err.code !== 'TLOG_KEY_NOT_FOR_ORIGIN') return inconsistent(err.code, `${where}: ${err.message}`);
  return Object.assign(new ResolveFailure('LogKeyNotForOrigin', `${err.code}: ${where}: ${err.message}`, false), { code: err.code });
}

function inconsistent(code: TlogError['code'], message: string): ResolveFailure {
  const f = new ResolveFailure('LogInconsistent', `${code}: ${message}`, false);
  return Object.assign(f, { code });
}
