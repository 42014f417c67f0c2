/**
 * The NATS handshake's nonce signature for a creds file, made with node:crypto's native
 * Ed25519 instead of the client library's JavaScript one: that signs in ~10–50 ms on a loaded
 * 2-core node (twice per connect: the key pair from the seed, then the signature), most of a
 * host's membrane connect; native, well under 1 ms. The same bytes go over the wire: the user
 * JWT, the user key (the JWT's subject: a seed that is not that key's makes a signature the
 * server refuses, NATS_AUTH_FAILED), and the signature of the nonce in standard base64.
 */
import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import type { Authenticator } from '@nats-io/transport-node';

/** PKCS#8 DER wrapping of a raw 32-byte Ed25519 seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The raw 32-byte Ed25519 seed inside an nkey seed (`SU…`: 2 prefix bytes, 32 seed bytes, CRC-16; base32). */
function rawSeed(seed: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of seed) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error('the creds file holds a seed that is not base32');
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if (out.length !== 36) throw new Error('the creds file holds a seed of the wrong length');
  return Buffer.from(out.slice(2, 34));
}

/** The user JWT and seed blocks of a creds file, as the client library reads them. */
function parseCreds(text: string): { jwt: string; seed: string } {
  const blocks = [...text.matchAll(/\s*(?:(?:-{3,}[^\n]*-{3,}\n)(.+)(?:\n\s*-{3,}[^\n]*-{3,}\n))/gi)].map((m) => m[1]!.trim());
  if (blocks.length < 2) throw new Error('unable to parse credentials');
  return { jwt: blocks[0]!, seed: blocks[1]! };
}

/** An authenticator for creds file text whose JWT's subject is `userKey`, signing natively. */
export function credsSigner(text: string, userKey: string): Authenticator {
  const { jwt, seed } = parseCreds(text);
  const key: KeyObject = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, rawSeed(seed)]), format: 'der', type: 'pkcs8' });
  return (nonce?: string) => ({
    jwt,
    nkey: userKey,
    sig: nonce ? sign(null, Buffer.from(nonce), key).toString('base64') : '',
  });
}
