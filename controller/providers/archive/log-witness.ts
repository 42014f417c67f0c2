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
 * Logs are read at most once per `recheckMs` per repository (one tag listing and one manifest
 * GET per entry); the comparisons with each Provider's memory run on every reconcile.
 */
import type { LogMemory, ResolvedArchive } from '../../../api/provider.js';
import { openContentBackend, revisionTag, type TransferLimits } from '../../../registry/index.js';
import type { RegistryCredentials } from '../../../registry/distribution/auth.js';
import {
  decodeBase64,
  encodeBase64,
  isTlogError,
  openLog,
  parseTrustedLogKey,
  type NoteVerifier,
  type RepositoryLog,
  type TlogError,
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
}

export function parseLogKeys(keys: string[]): NoteVerifier[] {
  return keys.map((k) => parseTrustedLogKey(k));
}

export class RegistryLogWitness implements LogWitness {
  private readonly verifiers: NoteVerifier[];
  private readonly opened = new Map<string, { at: number; log: Promise<RepositoryLog> }>();

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
    const log = await this.open(c as LogCheck);
    // latestCheckpoint refuses a log without checkpoints too (TLOG_NO_LOG); this spares the throw
    // Stryker disable next-line ConditionalExpression: as above
    if (log.checkpointSizes.length === 0) return undefined;
    // a checkpoint that does not verify offers nothing; the check proper reports what is wrong
    const size = await log.latestCheckpoint(this.verifiers).then(
      (v) => v.checkpoint.size,
      () => undefined,
    );
    if (size === undefined) return undefined;
    const within = log.entries.slice(0, size);
    return within.length ? within.reduce((m, e) => Math.max(m, e.revision), 0) : undefined;
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
    const log = await this.open(c);
    const where = `${c.ref} revision ${c.resolved.revision}`;
    if (log.size === 0 && log.checkpointSizes.length === 0) {
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
      const latest = await log.latestCheckpoint(this.verifiers);
      const cp = latest.checkpoint;
      if (remembered) {
        const root = decodeBase64(remembered.rootHash);
        if (!root)
          throw inconsistent(
            'TLOG_CHECKPOINT_MALFORMED',
            `${where}: status.log.rootHash is not base64; clear status.log only if you trust the log as it is now`,
          );
        // Stryker disable next-line ArrayDeclaration: checkExtends reads sizes and roots only
        log.checkExtends({ origin: c.origin, size: remembered.size, root, extensions: [] }, cp);
      }
      const index = log.indexOfRevision(c.resolved.revision);
      if (index === undefined)
        throw inconsistent(
          'TLOG_UNLOGGED_REVISION',
          `${where} (${c.resolved.digest}) has no entry in the log ${c.origin} (checkpoint of size ${cp.size}); it was published outside the log`,
        );
      if (index >= cp.size)
        throw inconsistent(
          'TLOG_UNLOGGED_REVISION',
          `${where} is log entry ${index}, not yet included in the latest signed checkpoint (size ${cp.size}); an interrupted push — push the archive again to checkpoint it`,
        );
      log.inclusion(c.resolved.revision, cp.size); // proves (and checks) the entry is in the signed tree
      const e = log.entries[index];
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
      throw isTlogError(err) ? refusal(err, where) : err;
    }
  }

  private open(c: LogCheck): Promise<RepositoryLog> {
    const key = `${c.ref}|${c.origin}`;
    const hit = this.opened.get(key);
    // Stryker disable next-line EqualityOperator: one millisecond
    if (hit && Date.now() - hit.at < (this.opts.recheckMs ?? 15_000)) return hit.log;
    // Stryker disable next-line ObjectLiteral: only a registry reads these (log-witness.test.ts runs against a plain-HTTP one)
    const backend = openContentBackend(c.ref, {
      plainHttpRegistries: this.opts.plainHttpRegistries,
      caFile: this.opts.caFile,
      timeoutMs: this.opts.timeoutMs,
      transferLimits: this.opts.transferLimits,
      credentials: c.credentials,
    });
    const log = openLog(backend, { origin: c.origin });
    this.opened.set(key, { at: Date.now(), log });
    log.catch(() => this.opened.delete(key)); // a failed read is not cached
    return log;
  }
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
