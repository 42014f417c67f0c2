import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ParError,
  decodeSeed,
  generateSeed,
  isAccountKey,
  isServiceKey,
  keyTypeOf,
  privateKeyFromSeed,
  publicKeyFromSeed,
  signWithSeed,
  verifyWithPublicKey,
  crc16,
  base32Decode,
  base32Encode,
  type NKeyType,
} from '../../par/index.js';
import { CONFORMANCE, conformanceJson } from './fixtures.js';

const vectors = conformanceJson('nkeys/vectors.json');
const ROLE: Record<string, NKeyType> = { A: 'account', V: 'service', M: 'module', O: 'operator', U: 'user', N: 'server', C: 'cluster' };

describe('nkeys codec', () => {
  it('CRC-16/XMODEM matches the check value', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
  });

  it('base32 round-trips arbitrary bytes', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff);
      expect(base32Decode(base32Encode(bytes))).toEqual(bytes);
    }
  });

  it.each(vectors.seed_to_public as any[])('seed $seed → $public', (v) => {
    expect(publicKeyFromSeed(v.seed)).toBe(v.public);
    const { type, raw } = decodeSeed(v.seed);
    expect(Buffer.from(raw).toString('hex')).toBe(v.raw_seed_hex);
    expect(type).toBe(ROLE[v.role_prefix]);
    expect(keyTypeOf(v.public)).toBe(ROLE[v.role_prefix]);
  });

  it.each(vectors.signatures as any[])('signs deterministically with $seed', (v) => {
    const sig = signWithSeed(v.seed, Buffer.from(v.message_utf8, 'utf8'));
    expect(Buffer.from(sig).toString('base64')).toBe(v.signature_std_base64);
    expect(verifyWithPublicKey(publicKeyFromSeed(v.seed), Buffer.from(v.message_utf8), sig)).toBe(true);
    expect(verifyWithPublicKey(publicKeyFromSeed(v.seed), Buffer.from(v.message_utf8 + 'x'), sig)).toBe(false);
  });

  it.each(vectors.invalid as any[])('refuses $kind $input ($expected_error)', (v) => {
    const call = v.kind === 'seed' ? () => publicKeyFromSeed(v.input) : () => keyTypeOf(v.input);
    expect(call).toThrow(ParError);
    try {
      call();
    } catch (err) {
      expect((err as ParError).code).toBe('PAR_BAD_KEY');
    }
  });

  it('detects types from the type-detection vectors', () => {
    for (const v of vectors.type_detection as any[]) {
      const type = v.kind === 'seed' ? decodeSeed(v.input).type : keyTypeOf(v.input);
      expect(type).toBe(v.expected_type.toLowerCase());
    }
  });

  it('encodes the P… private key form', () => {
    for (const v of vectors.private_key_encoding as any[]) expect(privateKeyFromSeed(v.seed)).toBe(v.private);
  });

  it('derives the X25519 public key of a curve seed', () => {
    expect(publicKeyFromSeed(vectors.curve_x25519.seed)).toBe(vectors.curve_x25519.public);
  });

  it('reads the seed files committed upstream', () => {
    const expected: Record<string, string> = {
      'wascc_act.nk': 'AAGRUXXTGSP4C27RWPTMCHCJF56JD53EQPA2R7RPC5VI4E274KPRMMJ5',
      'wascc_mod_kvcounter.nk': 'MASCXFM4R6X63UD5MSCDZYCJNPBVSIU6RKMXUPXRKAOSBQ6UY3VT3NPZ',
      'otp_kvcounter_unpriv_account.nk': 'ABRIBHH54GM7QIEJBYYGZJUSDAMO34YM4SKWUQJGIILRB7JYGXEPWUVT',
      'otp_kvcounter_unpriv_module.nk': 'MBW3UGAIONCX3RIDDUGDCQIRGBQQOWS643CVICQ5EZ7SWNQPZLZTSQKU',
    };
    for (const [file, pub] of Object.entries(expected)) {
      expect(publicKeyFromSeed(readFileSync(join(CONFORMANCE, 'nkeys', file), 'utf8'))).toBe(pub);
    }
  });

  it.each(['account', 'service', 'module', 'operator', 'user', 'server', 'cluster'] as NKeyType[])(
    'generates %s keys that round-trip',
    (type) => {
      const seed = generateSeed(type);
      expect(seed).toHaveLength(58);
      expect(decodeSeed(seed).type).toBe(type);
      const pub = publicKeyFromSeed(seed);
      expect(pub).toHaveLength(56);
      expect(keyTypeOf(pub)).toBe(type);
      expect(isAccountKey(pub)).toBe(type === 'account');
      expect(isServiceKey(pub)).toBe(type === 'service');
      const sig = signWithSeed(seed, Buffer.from('hello'));
      expect(verifyWithPublicKey(pub, Buffer.from('hello'), sig)).toBe(true);
    },
  );

  it('gives false, not an exception, for non-keys in the is* helpers', () => {
    expect(isAccountKey('not a key')).toBe(false);
    expect(isServiceKey('')).toBe(false);
  });
});
