/**
 * The revocation list's rules (membrane/revocations.ts), on a simulated clock: an entry goes
 * only once every JWT it could refuse has expired, never while a JWT without `exp` could still
 * be covered, and the cut-off of a key is the later of its own and the revoke-all one.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CLOCK_SKEW_SEC,
  DEFAULT_MAX_JWT_LIFETIME_SEC,
  lifetimeTag,
  RevocationList,
  REVOKE_ALL,
  recordedLifetime,
} from '../../membrane/revocations.js';

const T0 = 1_800_000_000; // seconds
function clocked(o: { maxLifetimeSec?: number; skewSec?: number } = {}) {
  let now = T0 * 1000;
  const list = new RevocationList({ ...o, now: () => now });
  return { list, at: (sec: number) => (now = sec * 1000 + 999) };
}

describe('RevocationList', () => {
  it('defaults: 24 h lifetime, 300 s skew, Date.now', () => {
    expect(REVOKE_ALL).toBe('*'); // nats-server's key for "every user"
    const l = new RevocationList();
    expect(l.maxLifetimeSec).toBe(DEFAULT_MAX_JWT_LIFETIME_SEC);
    expect(DEFAULT_MAX_JWT_LIFETIME_SEC).toBe(86_400);
    expect(l.skewSec).toBe(DEFAULT_CLOCK_SKEW_SEC);
    expect(DEFAULT_CLOCK_SKEW_SEC).toBe(300);
    expect(Math.abs(l.nowSec() - Date.now() / 1000)).toBeLessThan(2);
    expect(l.nowSec()).toBe(Math.floor(l.nowSec()));
  });

  it('refuses a lifetime that is not a positive whole number of seconds', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new RevocationList({ maxLifetimeSec: bad })).toThrow(/maxLifetimeSec/);
    expect(new RevocationList({ maxLifetimeSec: 1 }).maxLifetimeSec).toBe(1);
  });

  it('add keeps the later cut-off and defaults to now (whole seconds)', () => {
    const { list } = clocked();
    expect(list.add('UA')).toBe(T0);
    expect(list.add('UA', T0 - 50)).toBe(T0);
    expect(list.add('UA', T0 + 7)).toBe(T0 + 7);
    expect(list.toRecord()).toEqual({ UA: T0 + 7 });
    expect(list.size).toBe(1);
  });

  it('cutoffFor: the later of the key and the revoke-all entry', () => {
    const { list } = clocked();
    expect(list.cutoffFor('UA')).toBeUndefined();
    list.add('UA', T0 - 10);
    expect(list.cutoffFor('UA')).toBe(T0 - 10);
    expect(list.revokeAllCutoff).toBeUndefined();
    expect(list.revokeAllOnce(T0)).toBe(true);
    expect(list.revokeAllCutoff).toBe(T0);
    expect(list.cutoffFor('UA')).toBe(T0);
    expect(list.cutoffFor('UB')).toBe(T0);
    list.add('UB', T0 + 5);
    expect(list.cutoffFor('UB')).toBe(T0 + 5);
  });

  it('revokeAllOnce sets the entry only once (a second run must not revoke everything again)', () => {
    const { list } = clocked();
    expect(list.revokeAllOnce()).toBe(true);
    expect(list.toRecord()).toEqual({ [REVOKE_ALL]: T0 });
    expect(list.revokeAllOnce(T0 + 100)).toBe(false);
    expect(list.revokeAllCutoff).toBe(T0);
  });

  it('prunes nothing without a revoke-all entry: a JWT without exp could still be covered', () => {
    const { list, at } = clocked({ maxLifetimeSec: 60, skewSec: 0 });
    list.add('UA', T0);
    at(T0 + 1_000_000);
    expect(list.prune()).toBe(0);
    expect(list.size).toBe(1);
  });

  it('prunes an entry at or before the revoke-all cut-off at once, and keeps the revoke-all entry', () => {
    const { list } = clocked({ maxLifetimeSec: 60, skewSec: 0 });
    list.add('UOLD', T0 - 5);
    list.add('UEQ', T0);
    list.add('UNEW', T0 + 1);
    list.revokeAllOnce(T0);
    expect(list.prune()).toBe(2);
    expect(list.toRecord()).toEqual({ [REVOKE_ALL]: T0, UNEW: T0 + 1 });
  });

  it('prunes an entry only once cut-off + lifetime + skew is in the past', () => {
    const { list, at } = clocked({ maxLifetimeSec: 60, skewSec: 10 });
    list.revokeAllOnce(T0 - 1);
    list.add('UA', T0);
    at(T0 + 70); // T + 60 + 10 = now: a JWT issued at T with exp T+60 could still pass a server 10 s behind
    expect(list.prune()).toBe(0);
    expect(list.cutoffFor('UA')).toBe(T0);
    at(T0 + 71);
    expect(list.prune()).toBe(1);
    expect(list.cutoffFor('UA')).toBe(T0 - 1);
    expect(list.size).toBe(1);
  });

  it('prunes with the largest lifetime ever assumed, not a shorter new one', () => {
    const { list, at } = clocked({ maxLifetimeSec: 60, skewSec: 0 });
    list.revokeAllOnce(T0 - 1);
    list.add('UA', T0);
    list.assumeLifetime(600);
    list.assumeLifetime(100); // never lowers
    expect(list.assumedLifetimeSec).toBe(600);
    expect(list.maxLifetimeSec).toBe(60); // mints still use the configured bound
    at(T0 + 300);
    expect(list.prune()).toBe(0);
    at(T0 + 601);
    expect(list.prune()).toBe(1);
  });

  it('expFor clamps a longer exp to iat + lifetime and defaults a missing one to it', () => {
    const { list } = clocked({ maxLifetimeSec: 3600 });
    expect(list.expFor(T0)).toBe(T0 + 3600);
    expect(list.expFor(T0, T0 + 10)).toBe(T0 + 10);
    expect(list.expFor(T0, T0 + 3600)).toBe(T0 + 3600);
    expect(list.expFor(T0, T0 + 3601)).toBe(T0 + 3600);
  });

  it('merge takes the later cut-off per key and ignores non-numbers', () => {
    const { list } = clocked();
    list.add('UA', T0);
    list.merge({ UA: T0 - 1, UB: T0 + 2, UC: Number.NaN, [REVOKE_ALL]: T0 - 3 });
    expect(list.toRecord()).toEqual({ UA: T0, UB: T0 + 2, [REVOKE_ALL]: T0 - 3 });
    list.merge({ UA: T0 + 9 });
    expect(list.cutoffFor('UA')).toBe(T0 + 9);
  });

  it('stays bounded under a steady stream of revocations', () => {
    const { list, at } = clocked({ maxLifetimeSec: 3600, skewSec: 60 });
    list.revokeAllOnce(T0 - 1);
    let peak = 0;
    for (let i = 0; i < 20_000; i++) {
      at(T0 + i); // one revocation a second for 5.5 h
      list.add(`U${i}`);
      if (i % 100 === 0) {
        list.prune();
        peak = Math.max(peak, list.size);
      }
    }
    // the last lifetime + skew of revocations (3661 seconds' worth) and the revoke-all entry
    expect(peak).toBe(3600 + 60 + 1 + 1);
  });
});

describe('the lifetime tag', () => {
  it('round-trips and takes the largest recorded', () => {
    expect(lifetimeTag(86_400)).toBe('gantry-max-jwt-lifetime-sec:86400');
    expect(recordedLifetime([lifetimeTag(60), 'other', lifetimeTag(120), lifetimeTag(90)])).toBe(120);
  });
  it('ignores what is not a positive whole number, and a missing list', () => {
    expect(recordedLifetime(undefined)).toBeUndefined();
    expect(recordedLifetime('gantry-max-jwt-lifetime-sec:5')).toBeUndefined();
    expect(
      recordedLifetime([7, 'gantry-max-jwt-lifetime-sec:', 'gantry-max-jwt-lifetime-sec:-5', 'gantry-max-jwt-lifetime-sec:1.5']),
    ).toBeUndefined();
    expect(recordedLifetime(['x-gantry-max-jwt-lifetime-sec:50'])).toBeUndefined();
  });
});
