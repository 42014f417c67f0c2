/**
 * What the responder reads from an activation request before it wakes anything: the subject's
 * namespace, target and caller, exactly as client/activation.ts builds them, and the caller's
 * deadline. Anything else is refused with its reason (BAD_REQUEST).
 */
import { describe, expect, it } from 'vitest';
import { capabilityActivationSubject, providerActivationSubject } from '../../../client/activation.js';
import { parseActivationRequest } from '../../../controller/activation/request.js';

const U = 'UCALLER';

describe('parseActivationRequest', () => {
  it('reads a Provider subject and a capability subject back to what built them, token-encoded names included', () => {
    expect(parseActivationRequest(providerActivationSubject('apps', 'kv.v2', U), '2500', 30_000)).toEqual({
      namespace: 'apps',
      target: { kind: 'provider', provider: 'kv.v2' },
      caller: U,
      waitMs: 2500,
    });
    expect(parseActivationRequest(capabilityActivationSubject('apps', 'acme:kv', 'blue', U), '10', 30_000)).toEqual({
      namespace: 'apps',
      target: { kind: 'cap', capid: 'acme:kv', link: 'blue' },
      caller: U,
      waitMs: 10,
    });
    expect(parseActivationRequest(capabilityActivationSubject('apps', 'acme:kv', undefined, U), '1', 30_000)).toMatchObject({
      target: { kind: 'cap', capid: 'acme:kv', link: 'default' },
    });
  });

  it('caps the wait at maxWaitMs, and waits that long when the caller gave no deadline', () => {
    const s = providerActivationSubject('apps', 'kv', U);
    expect(parseActivationRequest(s, '30001', 30_000)).toMatchObject({ waitMs: 30_000 });
    expect(parseActivationRequest(s, '30000', 30_000)).toMatchObject({ waitMs: 30_000 });
    expect(parseActivationRequest(s, '29999', 30_000)).toMatchObject({ waitMs: 29_999 });
    expect(parseActivationRequest(s, undefined, 7000)).toMatchObject({ waitMs: 7000 });
    expect(parseActivationRequest(s, '', 7000)).toMatchObject({ waitMs: 7000 });
  });

  it('refuses a deadline that is not a positive whole number of ms', () => {
    const s = providerActivationSubject('apps', 'kv', U);
    for (const bad of ['0', '-5', '1.5', 'soon', 'NaN', 'Infinity'])
      expect(parseActivationRequest(s, bad, 30_000)).toEqual({
        error: `Gantry-Timeout-Ms must be a positive whole number of ms, got "${bad}"`,
      });
  });

  it('refuses subjects that are not activation subjects, or name no target', () => {
    expect(parseActivationRequest('gantry.apps.provider.kv.Get.U', '1', 1)).toEqual({
      error: 'gantry.apps.provider.kv.Get.U is not an activation subject (gantry.<ns>.activate.…)',
    });
    expect(parseActivationRequest('other.apps.activate.provider.kv.U', '1', 1)).toMatchObject({ error: /not an activation subject/ });
    for (const s of [
      'gantry.apps.activate.bogus.kv.U',
      'gantry.apps.activate.provider.kv',
      'gantry.apps.activate.provider.kv.U.extra',
      'gantry.apps.activate.cap.acme:kv.U',
      'gantry.apps.activate.cap.acme:kv.blue.U.extra',
    ])
      expect(parseActivationRequest(s, '1', 1)).toEqual({
        error: `${s} names no target: want gantry.<ns>.activate.provider.<provider>.<caller> or gantry.<ns>.activate.cap.<capid>.<link>.<caller>`,
      });
  });

  it('refuses empty or undecodable tokens', () => {
    for (const s of [
      'gantry..activate.provider.kv.U',
      'gantry.apps.activate.provider..U',
      'gantry.apps.activate.provider.kv.',
      'gantry.apps.activate.provider.k%ZZ.U',
      'gantry.apps.activate.cap..blue.U',
      'gantry.apps.activate.cap.acme:kv..U',
      'gantry.apps.activate.cap.acme:kv.blue.',
    ])
      expect(parseActivationRequest(s, '1', 1)).toEqual({ error: `${s} has an empty or undecodable token` });
  });
});
