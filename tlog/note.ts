/**
 * C2SP signed notes with Ed25519 — the format of Go's checksum database and of every
 * tlog-checkpoint. A note is UTF-8 text (ending in a newline), one blank line, then one or more
 * signature lines `— <name> <base64(keyID4 ‖ signature64)>` (the em dash U+2014 and a space).
 *
 * Keys are text:
 *   verifier key  `<name>+<hex8 keyID>+<base64(0x01 ‖ 32-byte public key)>`
 *   signer key    `PRIVATE+KEY+<name>+<hex8 keyID>+<base64(0x01 ‖ 32-byte seed)>`
 * with keyID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. A name is non-empty and has no
 * white space and no `+`.
 *
 * Opening follows Go's golang.org/x/mod/sumdb/note: the text is everything up to the last
 * blank line; a signature whose (name, keyID) no trusted key has is ignored; a signature by a
 * trusted key that does not verify rejects the note (TLOG_NOTE_BAD_SIGNATURE); a note with no
 * verified signature is refused (TLOG_NOTE_UNVERIFIED); any framing fault is
 * TLOG_NOTE_MALFORMED; a key that does not parse or whose keyID does not recompute is
 * TLOG_NOTE_BAD_KEY. At most 100 signature lines are read (Go's limit; C2SP asks for ≥ 16).
 *
 * ```ts
 * const { signerKey, verifierKey } = generateNoteKey('registry.example/acme/log');
 * const note = signNote('hello\n', [parseSignerKey(signerKey)]);
 * openNote(note, [parseVerifierKey(verifierKey)]).text === 'hello\n';
 * ```
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.js';
import { TlogError } from './errors.js';

// Ed25519 through node:crypto (OpenSSL): a checkpoint verifies in tens of microseconds, where
// the pure-JS @noble/ed25519 took milliseconds (bench/tlog.ts).
const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pub) }, format: 'jwk' });
}

function privateKeyObject(seed: Uint8Array): { key: KeyObject; publicKey: Uint8Array } {
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return { key, publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')) };
}

const ALG_ED25519 = 0x01;
const SIG_PREFIX = '\u2014 ';
const MAX_SIGNATURES = 100;
const SIGNER_PREFIX = 'PRIVATE+KEY+';

export interface NoteVerifier {
  readonly name: string;
  /** the 4-byte key ID as 8 lowercase hex digits */
  readonly keyHash: string;
  /** the verifier key text this was parsed from */
  readonly verifierKey: string;
  /** the origin prefixes this key may sign checkpoints for (origin-keys.ts); undefined: bound by its caller to the one log it checks */
  readonly origins?: readonly string[];
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyHash: string;
  /** the matching verifier key text */
  readonly verifierKey: string;
  sign(message: Uint8Array): Uint8Array;
}

export interface NoteSignature {
  name: string;
  keyHash: string;
  /** base64(keyID ‖ signature) as it appeared on the line */
  base64: string;
}

export interface OpenedNote {
  /** the signed text, ending in a newline */
  text: string;
  /** signatures by trusted keys, all verified */
  verified: NoteSignature[];
  /** signatures by keys not in the trusted set (not checked) */
  unverified: NoteSignature[];
}

/** Key names: non-empty, no white space, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/\s/u.test(name) && !name.includes('+') && isWellFormed(name);
}

function isWellFormed(s: string): boolean {
  // Stryker disable next-line StringLiteral: Buffer's default encoding is UTF-8 (here and below)
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}

function keyIdOf(name: string, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(Buffer.from(name)) // UTF-8
      .update(Uint8Array.of(0x0a, ALG_ED25519))
      .update(publicKey)
      .digest()
      .subarray(0, 4),
  );
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function badKey(what: string, reason: string): never {
  throw new TlogError('TLOG_NOTE_BAD_KEY', `${what}: ${reason}`);
}

/** name, hash, key material (after the algorithm byte) of `name+hash+base64`. */
function splitKey(text: string, what: string): { name: string; keyHash: string; material: Uint8Array } {
  const a = text.indexOf('+');
  // Stryker disable next-line ConditionalExpression,UnaryOperator: with no '+' at all, indexOf from anywhere is -1 too
  const b = a < 0 ? -1 : text.indexOf('+', a + 1);
  // Stryker disable next-line ConditionalExpression,EqualityOperator: a < 0 makes b < 0, and b > a ≥ 0 otherwise
  if (a < 0 || b < 0) badKey(what, 'expected <name>+<hex8 key hash>+<base64 key>');
  const name = text.slice(0, a);
  const keyHash = text.slice(a + 1, b);
  if (!isValidKeyName(name)) badKey(what, `key name ${JSON.stringify(name)} is empty or has a space or '+'`);
  if (!/^[0-9a-f]{8}$/.test(keyHash)) badKey(what, `key hash ${JSON.stringify(keyHash)} is not 8 lowercase hex digits`);
  const raw = decodeBase64(text.slice(b + 1));
  if (!raw || raw.length === 0) badKey(what, 'the key is not standard base64');
  if (raw[0] !== ALG_ED25519) badKey(what, `unknown signature algorithm ${raw[0]} (only 1 = Ed25519 is supported)`);
  if (raw.length !== 33) badKey(what, `an Ed25519 key is 32 bytes, this one is ${raw.length - 1}`);
  return { name, keyHash, material: raw.subarray(1) };
}

/** Parses `name+hash+base64(0x01‖pub)`; the key hash must recompute. */
export function parseVerifierKey(verifierKey: string): NoteVerifier {
  const what = `verifier key ${JSON.stringify(verifierKey)}`;
  if (verifierKey.trim() !== verifierKey) badKey(what, 'it has surrounding white space');
  const { name, keyHash, material } = splitKey(verifierKey, what);
  const publicKey = new Uint8Array(material);
  if (hex(keyIdOf(name, publicKey)) !== keyHash)
    badKey(what, `key hash ${keyHash} does not match the key (it recomputes to ${hex(keyIdOf(name, publicKey))})`);
  // OpenSSL imports any 32 bytes as an Ed25519 public key (it does not check the point) and
  // its verify then answers false, never throws: a key that is not a curve point verifies nothing
  const key = publicKeyObject(publicKey);
  return {
    name,
    keyHash,
    verifierKey,
    verify(message, signature) {
      // Stryker disable next-line ConditionalExpression: OpenSSL answers false for any other length too; this only skips the call
      if (signature.length !== 64) return false;
      return cryptoVerify(null, message, key, signature);
    },
  };
}

/** Parses `PRIVATE+KEY+name+hash+base64(0x01‖seed)`; the key hash must recompute. */
export function parseSignerKey(signerKey: string): NoteSigner {
  const what = 'signer key';
  const text = signerKey.trim();
  if (!text.startsWith(SIGNER_PREFIX)) badKey(what, `expected ${SIGNER_PREFIX}<name>+<hex8>+<base64 seed>`);
  const { name, keyHash, material } = splitKey(text.slice(SIGNER_PREFIX.length), what);
  const { key, publicKey } = privateKeyObject(new Uint8Array(material));
  if (hex(keyIdOf(name, publicKey)) !== keyHash) badKey(what, `key hash ${keyHash} does not match the key`);
  const verifierKey = `${name}+${keyHash}+${encodeBase64(Uint8Array.of(ALG_ED25519, ...publicKey))}`;
  return { name, keyHash, verifierKey, sign: (message) => new Uint8Array(cryptoSign(null, message, key)) };
}

/** A new random Ed25519 key pair for notes signed as `name`. */
export function generateNoteKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) badKey('new key', `key name ${JSON.stringify(name)} is empty or has a space or '+'`);
  const seed = new Uint8Array(randomBytes(32));
  const { publicKey } = privateKeyObject(seed);
  const keyHash = hex(keyIdOf(name, publicKey));
  return {
    signerKey: `${SIGNER_PREFIX}${name}+${keyHash}+${encodeBase64(Uint8Array.of(ALG_ED25519, ...seed))}`,
    verifierKey: `${name}+${keyHash}+${encodeBase64(Uint8Array.of(ALG_ED25519, ...publicKey))}`,
  };
}

function malformed(reason: string): never {
  throw new TlogError('TLOG_NOTE_MALFORMED', `not a signed note: ${reason}`);
}

/** Text rules shared by signing and opening: UTF-8, no control characters but LF. */
function checkCharacters(s: string, what: string): void {
  if (!isWellFormed(s)) malformed(`${what} is not valid UTF-8`);
  const bad = /[\u0000-\u0009\u000b-\u001f]/.exec(s);
  if (bad)
    malformed(`${what} contains the control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} at offset ${bad.index}`);
}

/** Signs `text` (which must end in a newline and have no blank-line signature block). */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkCharacters(text, 'the text');
  if (!text.endsWith('\n')) malformed('the text does not end with a newline');
  if (text.includes('\n\n')) malformed('the text contains a blank line');
  if (signers.length === 0) malformed('no signer given');
  // Stryker disable next-line StringLiteral: Buffer's default encoding is UTF-8
  const msg = Buffer.from(text, 'utf8');
  let out = text + '\n';
  for (const s of signers) {
    const sig = s.sign(msg);
    out += `${SIG_PREFIX}${s.name} ${encodeBase64(Uint8Array.of(...Buffer.from(s.keyHash, 'hex'), ...sig))}\n`;
  }
  return out;
}

/**
 * Opens a signed note, trusting only `verifiers`. Returns the text and the signatures; throws
 * TLOG_NOTE_MALFORMED, TLOG_NOTE_BAD_SIGNATURE or TLOG_NOTE_UNVERIFIED.
 */
export function openNote(message: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  let msg: string;
  if (typeof message === 'string') msg = message;
  else {
    try {
      msg = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(message);
    } catch {
      malformed('it is not valid UTF-8');
    }
  }
  checkCharacters(msg, 'the note');
  if (!msg.endsWith('\n')) malformed('it does not end with a newline');
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) malformed('there is no blank line before the signatures');
  const text = msg.slice(0, split + 1);
  const lines = msg.slice(split + 2).split('\n');
  lines.pop(); // the empty string after the final newline
  if (lines.length === 0) malformed('there are no signature lines');
  if (lines.length > MAX_SIGNATURES) malformed(`more than ${MAX_SIGNATURES} signatures`);

  // Stryker disable next-line StringLiteral: Buffer's default encoding is UTF-8
  const textBytes = Buffer.from(text, 'utf8');
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX))
      malformed(`the line ${JSON.stringify(line.slice(0, 40))} is not a signature line ("— name signature")`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    // Stryker disable next-line ConditionalExpression,EqualityOperator: without a space b64 is '' and the line is refused whatever the name
    const name = space < 0 ? rest : rest.slice(0, space);
    // a space at 0 is an empty name, refused either way; a non-empty stand-in for '' is not base64 (it has a space) and refused too
    // Stryker disable next-line EqualityOperator,StringLiteral: as above
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    const raw = decodeBase64(b64);
    // Stryker disable next-line ConditionalExpression,StringLiteral: '' decodes to no bytes, refused by the length check
    if (!isValidKeyName(name) || b64 === '' || !raw || raw.length < 5) {
      malformed(`the signature line ${JSON.stringify(line.slice(0, 40))} has a bad key name or signature encoding`);
    }
    const keyHash = hex(raw.subarray(0, 4));
    const sig: NoteSignature = { name, keyHash, base64: b64 };
    const id = `${name}+${keyHash}`;
    const verifier = verifiers.find((v) => v.name === name && v.keyHash === keyHash);
    if (!verifier) {
      if (!seen.has(id)) unverified.push(sig);
      seen.add(id);
      continue;
    }
    if (!verifier.verify(textBytes, raw.subarray(4))) {
      throw new TlogError(
        'TLOG_NOTE_BAD_SIGNATURE',
        `the signature by ${name}+${keyHash} does not verify: the note was altered or signed by another key with the same name and hash`,
      );
    }
    if (!seen.has(id)) verified.push(sig);
    seen.add(id);
  }
  if (verified.length === 0) {
    const names = verifiers.map((v) => `${v.name}+${v.keyHash}`).join(', ') || '(none)';
    throw new TlogError(
      'TLOG_NOTE_UNVERIFIED',
      `no signature by a trusted key (${names}); the note is signed only by ${unverified.map((s) => `${s.name}+${s.keyHash}`).join(', ')}`,
    );
  }
  return { text, verified, unverified };
}
