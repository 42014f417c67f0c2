/** Signed archives for registry tests, made with the PAR library from fresh keys. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { packageRoot } from '../../runtime/paths.js';

export interface Signer {
  issuerSeed: string;
  subjectSeed: string;
  issuer: string;
}

export function newSigner(): Signer {
  const issuerSeed = generateSeed('account');
  return { issuerSeed, subjectSeed: generateSeed('service'), issuer: publicKeyFromSeed(issuerSeed) };
}

export async function makeArchive(
  signer: Signer,
  revision: number,
  opts: { version?: string; binaryBytes?: number; seed?: string; format?: 'tar' | 'tar.gz' | 'zip' } = {},
): Promise<Uint8Array> {
  return createPar({
    name: 'Test Payments',
    vendor: 'Gantry tests',
    capid: 'examples:payments',
    version: opts.version ?? `0.${revision}.0`,
    revision,
    issuerSeed: signer.issuerSeed,
    subjectSeed: signer.subjectSeed,
    binaries: {
      'x86_64-linux': opts.binaryBytes
        ? randomBytes(opts.binaryBytes)
        : Buffer.from(`linux binary r${revision} ${opts.seed ?? randomBytes(8).toString('hex')}`),
      'aarch64-linux': Buffer.from(`arm binary r${revision}`),
    },
    format: opts.format ?? 'tar.gz',
  });
}

export function conformance(...parts: string[]): string {
  return join(packageRoot(), 'test', 'conformance', ...parts);
}
