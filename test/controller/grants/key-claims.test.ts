/**
 * key-claims.ts: who holds a NATS user key. A host's key is nobody's grantee key; among grants
 * the first namespace to claim it holds it (issued before not issued, then creation time, then
 * namespace/name); grants of the holding namespace share it.
 */
import { describe, expect, it } from 'vitest';
import { claimOrder, keyConflict, type KeyClaim } from '../../../controller/grants/key-claims.js';

const K = 'UKEY';
const claim = (namespace: string, name: string, createdAt?: string, issued = false, nkey = K): KeyClaim => ({
  namespace,
  name,
  nkey,
  createdAt,
  issued,
});
const T1 = '2026-01-01T00:00:01Z';
const T2 = '2026-01-01T00:00:02Z';
const none = new Set<string>();

describe('keyConflict', () => {
  it('a key nobody else names is free', () => {
    const g = claim('good', 'a', T1);
    expect(keyConflict(g, [g], none)).toBeUndefined();
    expect(keyConflict(g, [], none)).toBeUndefined();
  });

  it("a provider host's key is never a grantee's, whoever else names it", () => {
    const g = claim('good', 'a', T1, true);
    expect(keyConflict(g, [g], new Set([K]))).toBe('HostKey');
    expect(keyConflict(g, [g], new Set(['UOTHER']))).toBeUndefined();
  });

  it('another namespace that claimed the key first holds it; the later namespace is refused', () => {
    const victim = claim('good', 'v', T1);
    const attacker = claim('evil', 'x', T2);
    expect(keyConflict(attacker, [victim, attacker], none)).toBe('OtherNamespace');
    expect(keyConflict(victim, [victim, attacker], none)).toBeUndefined();
  });

  it('grants of the same namespace share a key', () => {
    const a = claim('good', 'a', T1, true);
    const b = claim('good', 'b', T2);
    expect(keyConflict(b, [a, b], none)).toBeUndefined();
    expect(keyConflict(a, [a, b], none)).toBeUndefined();
  });

  it('an issued grant holds the key against an earlier-created one that was not issued', () => {
    const issued = claim('zzz', 'v', T2, true);
    const early = claim('aaa', 'x', T1, false);
    expect(keyConflict(early, [issued, early], none)).toBe('OtherNamespace');
    expect(keyConflict(issued, [issued, early], none)).toBeUndefined();
  });

  it('grants naming other keys do not count', () => {
    const g = claim('evil', 'x', T2);
    expect(keyConflict(g, [claim('good', 'v', T1, true, 'UOTHER'), g], none)).toBeUndefined();
  });
});

describe('claimOrder', () => {
  it('issued first, then earlier creation, then namespace, then name', () => {
    expect(claimOrder(claim('b', 'x', T2, true), claim('a', 'x', T1))).toBeLessThan(0);
    expect(claimOrder(claim('a', 'x', T1), claim('b', 'x', T2, true))).toBeGreaterThan(0);
    expect(claimOrder(claim('b', 'x', T1), claim('a', 'x', T2))).toBeLessThan(0);
    expect(claimOrder(claim('a', 'x', T2), claim('b', 'x', T1))).toBeGreaterThan(0);
    // the same second: the namespace decides, then the name
    expect(claimOrder(claim('a', 'z', T1), claim('b', 'a', T1))).toBeLessThan(0);
    expect(claimOrder(claim('b', 'a', T1), claim('a', 'z', T1))).toBeGreaterThan(0);
    expect(claimOrder(claim('a', 'a', T1), claim('a', 'b', T1))).toBeLessThan(0);
    expect(claimOrder(claim('a', 'b', T1), claim('a', 'a', T1))).toBeGreaterThan(0);
    expect(claimOrder(claim('a', 'a', T1), claim('a', 'a', T1))).toBe(0);
  });

  it('a claim without a (valid) creation time sorts after one with', () => {
    expect(claimOrder(claim('a', 'x'), claim('b', 'x', T2))).toBeGreaterThan(0);
    expect(claimOrder(claim('a', 'x', 'garbage'), claim('b', 'x', T2))).toBeGreaterThan(0);
    expect(claimOrder(claim('b', 'x', T2), claim('a', 'x'))).toBeLessThan(0);
  });
});
