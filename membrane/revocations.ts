/**
 * The gantry account's revocation list, kept bounded.
 *
 * nats-server refuses a user JWT whose key has a cut-off T in the account's `revocations`
 * with `iat <= T`, and every user JWT with `iat <=` the cut-off of the revoke-all entry
 * (`"*"`). The list travels inside the account JWT, so it must stay small enough to push
 * (docs/security.md, "Revocation at scale"). Two rules keep it so:
 *
 *  - every user JWT the authority mints carries `exp <= iat + maxLifetimeSec`, so an entry
 *    (key, T) covers nothing any more once `T + maxLifetimeSec + skewSec < now`: every JWT it
 *    could refuse has expired anyway, and is pruned;
 *  - JWTs minted before lifetimes were enforced may have no `exp` at all. The `"*"` entry
 *    (set once, when lifetimes began) refuses all of them, so an entry at or before it is
 *    redundant and pruned too. Without a `"*"` entry nothing is ever pruned: an old JWT
 *    without `exp` could still be covered.
 *
 * Pure: times are seconds since the epoch, the clock is injected.
 */

/** The revoke-all entry: every user JWT issued at or before its cut-off is refused. */
export const REVOKE_ALL = '*';
export const DEFAULT_MAX_JWT_LIFETIME_SEC = 24 * 3600;
/** Margin for clocks that disagree between the authority and the servers. */
export const DEFAULT_CLOCK_SKEW_SEC = 300;

export interface RevocationPolicy {
  /** Upper bound on `exp - iat` of every user JWT minted (seconds). */
  maxLifetimeSec?: number;
  skewSec?: number;
  /** Milliseconds since the epoch (Date.now by default). */
  now?: () => number;
}

export class RevocationList {
  private readonly cutoffs = new Map<string, number>();
  /** The bound on `exp - iat` for JWTs minted now. */
  readonly maxLifetimeSec: number;
  private assumed: number;
  readonly skewSec: number;
  private readonly clock: () => number;

  constructor(p: RevocationPolicy = {}) {
    this.maxLifetimeSec = p.maxLifetimeSec ?? DEFAULT_MAX_JWT_LIFETIME_SEC;
    if (!Number.isInteger(this.maxLifetimeSec) || this.maxLifetimeSec <= 0)
      throw new RangeError(`maxLifetimeSec must be a positive whole number of seconds, not ${this.maxLifetimeSec}`);
    this.assumed = this.maxLifetimeSec;
    this.skewSec = p.skewSec ?? DEFAULT_CLOCK_SKEW_SEC;
    this.clock = p.now ?? Date.now;
  }

  /** The current time in whole seconds. */
  nowSec(): number {
    return Math.floor(this.clock() / 1000);
  }

  /**
   * The lifetime pruning assumes: the largest ever in force (a lowered setting must not prune
   * entries that still cover JWTs minted under the longer one).
   */
  get assumedLifetimeSec(): number {
    return this.assumed;
  }

  /** Raise the assumed lifetime (e.g. to the one recorded in the account JWT by an earlier run). */
  assumeLifetime(sec: number): void {
    // Stryker disable next-line EqualityOperator: assigning an equal value changes nothing
    if (sec > this.assumed) this.assumed = sec;
  }

  /**
   * The `exp` of a JWT issued at `iat`: the requested one clamped to `iat + maxLifetimeSec`,
   * or that bound when none was requested (a JWT never outlives the bound, silently).
   */
  expFor(iat: number, requested?: number): number {
    const bound = iat + this.maxLifetimeSec;
    return requested === undefined ? bound : Math.min(requested, bound);
  }

  get size(): number {
    return this.cutoffs.size;
  }

  /** The revoke-all cut-off: since when every JWT in the account carries `exp` (undefined before the migration). */
  get revokeAllCutoff(): number | undefined {
    return this.cutoffs.get(REVOKE_ALL);
  }

  /** Refuse every JWT of `key` issued at or before `at` (never lowers a cut-off); returns the cut-off in force. */
  add(key: string, at = this.nowSec()): number {
    const t = Math.max(at, this.cutoffs.get(key) ?? at);
    this.cutoffs.set(key, t);
    return t;
  }

  /**
   * Set the revoke-all entry if there is none (the one-time migration to enforced lifetimes);
   * returns whether it was set.
   */
  revokeAllOnce(at = this.nowSec()): boolean {
    if (this.cutoffs.has(REVOKE_ALL)) return false;
    this.cutoffs.set(REVOKE_ALL, at);
    return true;
  }

  /** The cut-off that applies to JWTs of `key`: the later of its own and the revoke-all one. */
  cutoffFor(key: string): number | undefined {
    const own = this.cutoffs.get(key);
    const all = this.cutoffs.get(REVOKE_ALL);
    if (own === undefined) return all;
    if (all === undefined) return own;
    return Math.max(own, all);
  }

  /**
   * Drop every entry that covers no JWT that could still be accepted; returns how many.
   * Nothing goes without a revoke-all entry, and the revoke-all entry itself stays.
   */
  prune(): number {
    const all = this.cutoffs.get(REVOKE_ALL);
    if (all === undefined) return 0;
    const horizon = this.nowSec() - this.assumed - this.skewSec;
    let dropped = 0;
    for (const [key, t] of this.cutoffs) {
      if (key !== REVOKE_ALL && (t <= all || t < horizon)) {
        this.cutoffs.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Take the later cut-off for every entry of `record` (e.g. the list the servers hold). */
  merge(record: Record<string, number>): void {
    for (const [k, t] of Object.entries(record)) if (Number.isFinite(t)) this.add(k, t);
  }

  toRecord(): Record<string, number> {
    return Object.fromEntries(this.cutoffs);
  }
}

/** The account JWT tag recording the lifetime in force, so a later run never prunes with a shorter one. */
const LIFETIME_TAG = 'gantry-max-jwt-lifetime-sec:';

export function lifetimeTag(sec: number): string {
  return `${LIFETIME_TAG}${sec}`;
}

/** The largest lifetime recorded in an account JWT's tags (undefined when none). */
export function recordedLifetime(tags: unknown): number | undefined {
  if (!Array.isArray(tags)) return undefined;
  let max: number | undefined;
  for (const tag of tags) {
    if (typeof tag !== 'string' || !tag.startsWith(LIFETIME_TAG)) continue;
    const n = Number(tag.slice(LIFETIME_TAG.length));
    // Stryker disable next-line EqualityOperator: taking an equal value changes nothing
    if (Number.isInteger(n) && n > 0 && (max === undefined || n > max)) max = n;
  }
  return max;
}
