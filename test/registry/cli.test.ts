/** `gantry par push|pull|revisions` as a user runs them: the built CLI against a real registry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';
import { sha256Digest } from '../../registry/digest.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { conformance, makeArchive, newSigner } from './fixtures.js';

const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 30_000);

let reg: RegistryServer;
let work: string;

beforeAll(async () => {
  reg = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-cli-'));
});
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('gantry par push / revisions / pull', () => {
  it('pushes, lists and pulls by revision; refuses unsigned archives and altered blobs', async () => {
    const signer = newSigner();
    const ref = `${reg.host}/cli/payments`;
    const files = [1, 2].map((r) => join(work, `r${r}.par.gz`));
    writeFileSync(files[0], await makeArchive(signer, 1));
    writeFileSync(files[1], await makeArchive(signer, 2));

    const pushed = await gantry(['par', 'push', files[0], ref, '--plain-http', '--json']);
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    expect(JSON.parse(pushed.stdout)).toMatchObject({ revision: 1, digest: expect.stringMatching(/^sha256:/) });
    expect((await gantry(['par', 'push', files[1], ref, '--plain-http'])).stdout).toMatch(/revision 2 \(version 0\.2\.0\) sha256:/);

    // no --plain-http: HTTPS is assumed, and a plain registry is refused with a hint
    const https = await gantry(['par', 'revisions', ref]);
    expect(https.code).toBe(1);
    expect(https.stderr).toMatch(/PLAIN_HTTP_REFUSED/);

    const listed = await gantry(['par', 'revisions', ref, '--plain-http', '--json']);
    expect(listed.code).toBe(0);
    const revs = JSON.parse(listed.stdout);
    expect(revs.map((r: { revision: number }) => r.revision)).toEqual([1, 2]);
    expect(revs[1]).toMatchObject({
      version: '0.2.0',
      targets: { 'x86_64-linux': { sha256: expect.any(String) } },
      pushedAt: expect.any(String),
    });
    const table = await gantry(['par', 'revisions', ref, '--plain-http']);
    expect(table.stdout.split('\n')[0]).toMatch(/^REVISION\s+VERSION\s+DIGEST\s+TARGETS\s+PUSHED-AT/);

    const out = join(work, 'pulled.par');
    const pulled = await gantry(['par', 'pull', ref, '--plain-http', '--revision', '1', '-o', out]);
    expect(pulled.code).toBe(0);
    expect(Buffer.compare(readFileSync(out), readFileSync(files[0]))).toBe(0);
    const highest = await gantry(['par', 'pull', ref, '--plain-http', '--json', '-o', join(work, 'highest.par')]);
    expect(JSON.parse(highest.stdout)).toMatchObject({ revision: 2 });

    const missing = await gantry(['par', 'pull', ref, '--plain-http', '--revision', '9', '-o', join(work, 'nine.par')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/REVISION_NOT_FOUND.*published revisions: 1, 2/);

    const unsigned = await gantry(['par', 'push', conformance('wascap', 'synthetic', 'neg_no_claims.par'), ref, '--plain-http']);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/PAR_UNSIGNED/);

    const badRef = await gantry(['par', 'push', files[0], 'not a ref']);
    expect(badRef.code).toBe(2);
    expect(badRef.stderr).toMatch(/BAD_REF/);

    // rewrite revision 2's archive blob inside the registry's storage: pull refuses, writes nothing
    const digest = sha256Digest(readFileSync(files[1]));
    const blob = join(reg.storageDir, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');
    const bytes = Buffer.from(readFileSync(blob));
    bytes[100] ^= 0xff;
    writeFileSync(blob, bytes);
    const dir = mkdtempSync(join(work, 'out-'));
    const refused = await gantry(['par', 'pull', ref, '--plain-http', '--revision', '2', '-o', join(dir, 'r2.par')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/DIGEST_MISMATCH/);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, 'r2.par'))).toBe(false);
  });
});
