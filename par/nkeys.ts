/**
 * nkeys: the NATS/wasmCloud text encoding of Ed25519 keys. A public key is base32 (RFC 4648,
 * no padding) of `type-prefix ‖ 32-byte key ‖ CRC-16/XMODEM (little-endian)`, 56 characters;
 * a seed carries two prefix bytes (`S` + type) and is 58 characters. `@nats-io/nkeys` refuses
 * the wasmCloud-only module (`M`) and service (`V`) types, so this small codec is our own.
 *
 * Account keys (`A…`) sign provider archives, service keys (`V…`) name providers, module
 * keys (`M…`) name actors.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { ParError } from './errors.js';

// The sync Ed25519 API needs a SHA-512 implementation plugged in.
ed.hashes.sha512 = sha512;

export type NKeyType = 'account' | 'service' | 'module' | 'operator' | 'server' | 'cluster' | 'user' | 'curve' | 'private';

const PREFIX_SEED = 18 << 3; // 'S'
const PREFIX: Record<NKeyType, number> = {
  account: 0, // 'A'
  cluster: 2 << 3, // 'C'
  module: 12 << 3, // 'M'
  server: 13 << 3, // 'N'
  operator: 14 << 3, // 'O'
  private: 15 << 3, // 'P'
  user: 20 << 3, // 'U'
  service: 21 << 3, // 'V'
  curve: 23 << 3, // 'X'
};
const TYPE_BY_PREFIX = new Map<number, NKeyType>(Object.entries(PREFIX).map(([t, p]) => [p, t as NKeyType]));

const PUBLIC_LENGTH = 56;
const SEED_LENGTH = 58;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// ---- base32 (RFC 4648, no padding) -------------------------------------------------------

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let n = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new ParError('PAR_BAD_KEY', `invalid key: ${JSON.stringify(ch)} is not a base32 character`);
    buffer = ((buffer << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out.subarray(0, n);
}

// ---- CRC-16/XMODEM ---------------------------------------------------------------------------

export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function withChecksum(body: Uint8Array): string {
  const full = new Uint8Array(body.length + 2);
  full.set(body);
  const crc = crc16(body);
  full[body.length] = crc & 0xff;
  full[body.length + 1] = crc >>> 8;
  return base32Encode(full);
}

/** Decodes and checks length and checksum; returns the bytes without the CRC. */
function decodeChecked(text: string, what: string): Uint8Array {
  const raw = base32Decode(text);
  if (raw.length < 3) throw new ParError('PAR_BAD_KEY', `invalid ${what}: too short`);
  const body = raw.subarray(0, raw.length - 2);
  const crc = raw[raw.length - 2] | (raw[raw.length - 1] << 8);
  if (crc16(body) !== crc) throw new ParError('PAR_BAD_KEY', `invalid ${what}: checksum mismatch (mistyped or damaged key)`);
  return body;
}

// ---- public API ------------------------------------------------------------------------------

export interface DecodedSeed {
  type: NKeyType;
  /** the 32-byte Ed25519 (or X25519 for curve) private seed */
  raw: Uint8Array;
}

/** Decodes a seed (`S…`, 58 characters) into its key type and raw 32 bytes. */
export function decodeSeed(seed: string): DecodedSeed {
  const text = seed.trim();
  if (text.length !== SEED_LENGTH) {
    throw new ParError('PAR_BAD_KEY', `invalid seed: expected ${SEED_LENGTH} characters, got ${text.length}`);
  }
  const body = decodeChecked(text, 'seed');
  if (body.length !== 34) throw new ParError('PAR_BAD_KEY', 'invalid seed: wrong decoded length');
  const b1 = body[0] & 0xf8;
  const typePrefix = ((body[0] & 7) << 5) | ((body[1] & 0xf8) >> 3);
  if (b1 !== PREFIX_SEED) throw new ParError('PAR_BAD_KEY', 'invalid seed: does not start with the seed prefix S');
  const type = TYPE_BY_PREFIX.get(typePrefix);
  if (!type || type === 'private') throw new ParError('PAR_BAD_KEY', 'invalid seed: unknown key type');
  return { type, raw: body.slice(2) };
}

export function encodeSeed(type: NKeyType, raw: Uint8Array): string {
  if (raw.length !== 32) throw new ParError('PAR_BAD_KEY', 'a seed is 32 bytes');
  if (type === 'private') throw new ParError('PAR_BAD_KEY', 'private is not a seed type');
  const p = PREFIX[type];
  const body = new Uint8Array(34);
  body[0] = PREFIX_SEED | (p >> 5);
  body[1] = (p & 31) << 3;
  body.set(raw, 2);
  return withChecksum(body);
}

export function encodePublicKey(type: NKeyType, raw: Uint8Array): string {
  if (raw.length !== 32) throw new ParError('PAR_BAD_KEY', 'a public key is 32 bytes');
  const body = new Uint8Array(33);
  body[0] = PREFIX[type];
  body.set(raw, 1);
  return withChecksum(body);
}

/** Decodes a public key into its type and raw 32 bytes; throws PAR_BAD_KEY when malformed. */
export function decodePublicKey(publicKey: string): { type: NKeyType; raw: Uint8Array } {
  if (typeof publicKey !== 'string' || publicKey.length !== PUBLIC_LENGTH) {
    const len = typeof publicKey === 'string' ? publicKey.length : 0;
    throw new ParError('PAR_BAD_KEY', `invalid public key: expected ${PUBLIC_LENGTH} characters, got ${len}`);
  }
  const body = decodeChecked(publicKey, 'public key');
  const type = TYPE_BY_PREFIX.get(body[0]);
  if (!type || type === 'private' || body.length !== 33) {
    throw new ParError('PAR_BAD_KEY', `invalid public key: unknown prefix ${JSON.stringify(publicKey[0])}`);
  }
  return { type, raw: body.slice(1) };
}

/** The key type of a public key (A → account, V → service, M → module, …). */
export function keyTypeOf(publicKey: string): NKeyType {
  return decodePublicKey(publicKey).type;
}

function isType(k: string, type: NKeyType): boolean {
  try {
    return keyTypeOf(k) === type;
  } catch {
    return false;
  }
}
export const isAccountKey = (k: string): boolean => isType(k, 'account');
export const isServiceKey = (k: string): boolean => isType(k, 'service');
export const isModuleKey = (k: string): boolean => isType(k, 'module');

/** A fresh random seed of the given type. */
export function generateSeed(type: NKeyType): string {
  return encodeSeed(type, new Uint8Array(randomBytes(32)));
}

// X25519 public keys (curve type) come from node:crypto: PKCS#8 wrapping of the raw seed.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function curvePublicRaw(raw: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
}

// Ed25519 public keys too: node:crypto derives one in microseconds, the JavaScript Ed25519
// in milliseconds (tens of them on a loaded node: an agent derives one per host identity).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function ed25519PublicRaw(raw: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
}

/** The public key that belongs to a seed (same type letter). */
export function publicKeyFromSeed(seed: string): string {
  const { type, raw } = decodeSeed(seed);
  const pub = type === 'curve' ? curvePublicRaw(raw) : ed25519PublicRaw(raw);
  return encodePublicKey(type, pub);
}

/** The `P…` private-key encoding (seed ‖ public key), as nkeys libraries print it. */
export function privateKeyFromSeed(seed: string): string {
  const { type, raw } = decodeSeed(seed);
  if (type === 'curve') throw new ParError('PAR_BAD_KEY', 'curve keys have no Ed25519 private-key form');
  const body = new Uint8Array(65);
  body[0] = PREFIX.private;
  body.set(raw, 1);
  body.set(ed25519PublicRaw(raw), 33);
  return withChecksum(body);
}

/** Ed25519 signature of `message` with the key in `seed`. Deterministic. */
export function signWithSeed(seed: string, message: Uint8Array): Uint8Array {
  const { type, raw } = decodeSeed(seed);
  if (type === 'curve') throw new ParError('PAR_BAD_KEY', 'curve (X25519) keys cannot sign');
  return ed.sign(message, raw);
}

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey`. */
export function verifyWithPublicKey(publicKey: string, message: Uint8Array, signature: Uint8Array): boolean {
  const { type, raw } = decodePublicKey(publicKey);
  if (type === 'curve' || signature.length !== 64) return false;
  try {
    // RFC 8032 strict verification: no small-order or non-canonical encodings.
    return ed.verify(signature, message, raw, { zip215: false });
  } catch {
    return false;
  }
}
