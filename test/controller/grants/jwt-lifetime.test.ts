/**
 * jwt-lifetime.ts: every grant JWT's exp is the grant's end or iat + lifetime, whichever is
 * first; it is renewed once less than a third of the lifetime remains, never when it ends with
 * the grant, and at once when it has no exp.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_GRANT_JWT_LIFETIME_MS, grantJwtExp, renewalDueAt } from '../../../controller/grants/jwt-lifetime.js';

const H = 3600_000;

describe('grantJwtExp', () => {
  it('iat + lifetime without spec.expires (default 24 h)', () => {
    expect(DEFAULT_GRANT_JWT_LIFETIME_MS).toBe(24 * H);
    expect(grantJwtExp(1000, 24 * H)).toBe(1000 + 86_400);
    expect(grantJwtExp(1000, 1500)).toBe(1001); // whole seconds
  });

  it('the earlier of spec.expires and iat + lifetime', () => {
    expect(grantJwtExp(1000, 24 * H, 2_000_500)).toBe(2000); // the grant ends first (floored)
    expect(grantJwtExp(1000, 10_000, 2_000_500)).toBe(1010); // the lifetime ends first
    expect(grantJwtExp(1000, 10_000, 1_010_000)).toBe(1010);
  });
});

describe('renewalDueAt', () => {
  it('two thirds into the lifetime: less than a third left', () => {
    expect(renewalDueAt(1030, 30_000)).toBe(1_030_000 - 10_000);
    expect(renewalDueAt(1030, 30_001, 5_000_000)).toBe(1_030_000 - 10_000);
  });

  it('never for a JWT that ends with the grant', () => {
    expect(renewalDueAt(2000, 24 * H, 2_000_500)).toBeUndefined();
    expect(renewalDueAt(2000, 24 * H, 2_000_000)).toBeUndefined();
    expect(renewalDueAt(1999, 24 * H, 2_000_500)).toBe(1_999_000 - 8 * H);
  });

  it('at once for a JWT without exp (issued before lifetimes)', () => {
    expect(renewalDueAt(undefined, 24 * H)).toBe(0);
    expect(renewalDueAt(undefined, 24 * H, 2_000_000)).toBe(0);
  });
});
