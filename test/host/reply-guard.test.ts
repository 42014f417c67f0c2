/** The reflected-reply guard on its own (membrane.test.ts attacks it end to end on a real nats-server). */
import { describe, expect, it } from 'vitest';
import { replyBelongsToCaller } from '../../agent/host/reply-guard.js';

const caller = 'UCALLERKEY';

describe('a reply subject belongs to its caller', () => {
  it("only when it lies below the caller's own inbox", () => {
    expect(replyBelongsToCaller(`_INBOX.${caller}.nuid.1`, caller)).toBe(true);
    expect(replyBelongsToCaller(`_INBOX.${caller}.x`, caller)).toBe(true);
  });

  it("not the caller's bare inbox prefix, another identity's inbox, nor one whose key merely starts with the caller's", () => {
    expect(replyBelongsToCaller(`_INBOX.${caller}`, caller)).toBe(false);
    expect(replyBelongsToCaller('_INBOX.UVICTIM.nuid.1', caller)).toBe(false);
    expect(replyBelongsToCaller(`_INBOX.${caller}X.nuid.1`, caller)).toBe(false);
    expect(replyBelongsToCaller(`X_INBOX.${caller}.nuid`, caller)).toBe(false);
    expect(replyBelongsToCaller(`gantry.ns.provider.p.Op.${caller}`, caller)).toBe(false);
    expect(replyBelongsToCaller('', caller)).toBe(false);
  });
});
