/** verifyClaimsPrefix: the signed claims of a tar or tar.gz from its first bytes only. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPar, generateSeed, publicKeyFromSeed, verifyClaimsPrefix } from '../../par/index.js';
import { issuerSeed, rawTar, refusal, subjectSeed } from './fixtures.js';
import { gzipSync } from 'node:zlib';

const make = (format: 'zip' | 'tar' | 'tar.gz') =>
  createPar({
    name: 'p',
    vendor: 'v',
    revision: 7,
    issuerSeed,
    subjectSeed,
    binaries: { 'x86_64-linux': new Uint8Array(randomBytes(300_000)) },
    format,
  });

describe('verifyClaimsPrefix', () => {
  it('reads and verifies the claims from a few KiB of a tar or tar.gz, whatever follows', async () => {
    for (const format of ['tar', 'tar.gz'] as const) {
      const par = await make(format);
      for (const prefix of [par.subarray(0, 4096), Buffer.concat([par, randomBytes(100_000)])]) {
        const got = await verifyClaimsPrefix(prefix);
        expect([got.format, got.claims.revision, got.claims.issuer]).toEqual([format, 7, publicKeyFromSeed(issuerSeed)]);
      }
    }
  });

  it('refuses a zip (PAR_BAD_FORMAT), claims that are not first or not in the prefix (PAR_TRUNCATED), a bad signature and an untrusted issuer', async () => {
    expect((await refusal(verifyClaimsPrefix(await make('zip')))).code).toBe('PAR_BAD_FORMAT');
    const binFirst = rawTar([{ name: 'x86_64-linux.bin', data: new Uint8Array(10) }]);
    expect((await refusal(verifyClaimsPrefix(gzipSync(binFirst)))).code).toBe('PAR_TRUNCATED');
    const tar = await make('tar');
    expect((await refusal(verifyClaimsPrefix(tar.subarray(0, 600)))).code).toBe('PAR_TRUNCATED');
    const forged = Buffer.from(tar);
    const sigAt = forged.indexOf('.', forged.indexOf('.', 512) + 1) + 5;
    forged[sigAt] = forged[sigAt] === 0x41 ? 0x42 : 0x41;
    expect((await refusal(verifyClaimsPrefix(forged))).code).toBe('PAR_SIGNATURE_INVALID');
    expect((await refusal(verifyClaimsPrefix(tar, { trustedIssuers: [publicKeyFromSeed(generateSeed('account'))] }))).code).toBe(
      'PAR_UNTRUSTED_ISSUER',
    );
  });
});
