/**
 * This node's seal key (registry/sealed-credential.ts): an X25519 key pair made on the node
 * the first time the agent starts, its seed kept in the node's cache directory (0600, never
 * sent anywhere); the public half goes on the agent's Lease. A seed file that others may read
 * is refused rather than used: it would no longer be this node's alone.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createCurve, fromCurveSeed, type KeyPair } from '@nats-io/nkeys';

export class SealKeyError extends Error {
  override name = 'SealKeyError';
  readonly code = 'SEAL_KEY_UNUSABLE';
}

/** Read the node's seal key from `file`, or make it there (0600) when there is none. */
export function nodeSealKey(file: string): KeyPair {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SealKeyError(`cannot read the seal key ${file}: ${(e as Error).message}`);
    const kp = createCurve();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // 0600 at creation (a umask can only narrow it); wx: never over a file that appeared meanwhile
    // Stryker disable next-line StringLiteral: 'wx' differs from 'w' only in a race with another writer
    writeFileSync(file, new TextDecoder().decode(kp.getSeed()) + '\n', { mode: 0o600, flag: 'wx' });
    return kp;
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077)
    throw new SealKeyError(
      `the seal key ${file} is readable by others (mode ${mode.toString(8)}); it must be 0600 (chmod 600 it, or delete it to make a new one)`,
    );
  try {
    return fromCurveSeed(new TextEncoder().encode(text.trim()));
  } catch (e) {
    throw new SealKeyError(`the seal key ${file} is not an xkey seed (SX…): ${(e as Error).message}; delete it to make a new one`);
  }
}
