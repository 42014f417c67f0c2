/**
 * The standard NATS `.creds` file: a user JWT and the user's nkey seed in two armoured blocks,
 * the format the `nats` CLI, nats.go, nats.py and nats.js read. Whoever holds it is that user.
 */
import { fromSeed } from '@nats-io/nkeys';
import { MembraneError } from './membrane-errors.js';
import { decodeJwt } from './jwt.js';

export function formatCreds(jwt: string, seed: string): string {
  return (
    `-----BEGIN NATS USER JWT-----\n${jwt.trim()}\n------END NATS USER JWT------\n\n` +
    '************************* IMPORTANT *************************\n' +
    'NKEY Seed printed below can be used to sign and prove identity.\n' +
    'NKEYs are sensitive and should be treated as secrets.\n\n' +
    `-----BEGIN USER NKEY SEED-----\n${seed.trim()}\n------END USER NKEY SEED------\n\n` +
    '*************************************************************\n'
  );
}

export interface ParsedCreds {
  jwt: string;
  seed: string;
  /** The user's public key (U…), the JWT's subject. */
  userKey: string;
}

const BLOCK = /\s*(?:(?:[-]{3,}.*[-]{3,}\r?\n)([\w\-.=]+)(?:\r?\n[-]{3,}.*[-]{3,}(\r?\n|$)))/g;

/** Parse a .creds file; the seed must be the key the JWT is about. */
export function parseCreds(text: string): ParsedCreds {
  const blocks = [...text.matchAll(BLOCK)].map((m) => m[1]);
  if (blocks.length < 2)
    throw new MembraneError('CREDS_INVALID', 'not a NATS .creds file (expected a user JWT block and a user nkey seed block)');
  const [jwt, seed] = blocks;
  const claims = decodeJwt(jwt);
  let userKey: string;
  try {
    userKey = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch (e) {
    throw new MembraneError('CREDS_INVALID', `the .creds seed is not an nkey seed: ${(e as Error).message}`);
  }
  if (!seed.startsWith('SU') || claims.sub !== userKey) {
    throw new MembraneError('CREDS_INVALID', `the .creds seed (${userKey}) is not the user the JWT names (${claims.sub})`);
  }
  return { jwt, seed, userKey };
}
