/**
 * Every artifact in test/conformance/wascap (a copy of the published conformance data) reads as its README and expected.json say:
 * real upstream archives and tokens verify, the synthetic negatives are refused with the right
 * code, re-signing a manifest's claims string reproduces its JWT, and our tar headers are
 * byte-identical to upstream's.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  createPar,
  decodeClaimsJwt,
  inspectPar,
  publicKeyFromSeed,
  signClaims,
  tarHeader,
  verifyClaimsJwt,
  verifyPar,
} from '../../par/index.js';
import { CONFORMANCE, UPSTREAM_ISSUER_SEED, UPSTREAM_SUBJECT_SEED, conformance, conformanceJson, refusal } from './fixtures.js';

const expected = conformanceJson('expected.json');
const manifest = conformanceJson('synthetic/synthetic_manifest.json');

const NEGATIVE_CODES: Record<string, string> = {
  'synthetic/neg_tampered_binary.par': 'PAR_HASH_MISMATCH',
  'synthetic/neg_bad_signature.par': 'PAR_SIGNATURE_INVALID',
  'synthetic/neg_unhashed_target.par': 'PAR_UNHASHED_TARGET',
  'synthetic/neg_no_binaries.par': 'PAR_NO_BINARIES',
  'synthetic/neg_no_claims.par': 'PAR_UNSIGNED',
};

function sha256Upper(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex').toUpperCase();
}

describe('conformance archives', () => {
  const good = Object.entries(expected.par as Record<string, any>).filter(([p]) => !(p in NEGATIVE_CODES));

  it.each(good)('%s verifies with the expected claims and hashes', async (path, e) => {
    const bytes = conformance(path);
    expect(sha256Upper(bytes).toLowerCase()).toBe(e.sha256_file);
    const par = await verifyPar(bytes, { trustedIssuers: [e.claims.iss] });
    expect(par.format).toBe(e.gzip ? 'tar.gz' : 'tar');
    expect(par.claims.issuer).toBe(e.claims.iss);
    expect(par.claims.subject).toBe(e.claims.sub);
    expect(par.claims.jti).toBe(e.claims.jti);
    expect(par.claims.issuedAt).toBe(e.claims.iat);
    expect(par.claims.name).toBe(e.claims.wascap.name);
    expect(par.claims.vendor).toBe(e.claims.wascap.vendor);
    expect(par.claims.capid).toBe(e.claims.wascap.capid);
    expect(par.claims.version).toBe(e.claims.wascap.ver);
    expect(par.claims.revision).toBe(e.claims.wascap.rev);
    expect(par.claims.hashes).toEqual(e.claims.wascap.target_hashes);
    expect(par.claims.configSchema).toEqual(e.claims.wascap.config_schema);
    // the sizes and hashes of the members, as listed by the independent implementation
    for (const entry of e.entries.filter((x: any) => x.name !== 'claims.jwt')) {
      const target = entry.name === 'world.wasm' ? 'world.wasm' : entry.name.replace(/\.bin$/, '');
      expect(par.targets[target]).toEqual({ sha256: entry.sha256_upper, size: entry.size });
    }
    expect(Object.keys(par.targets).length).toBe(e.entries.length - 1);
  });

  it.each(Object.entries(NEGATIVE_CODES))('%s is refused with %s', async (path, code) => {
    const err = await refusal(verifyPar(conformance(path)));
    expect(err.code).toBe(code);
  });

  it('inspect reports the bad signature and hash results the expectations list', async () => {
    for (const path of ['synthetic/neg_bad_signature.par', 'synthetic/neg_tampered_binary.par', 'synthetic/neg_unhashed_target.par']) {
      const e = expected.par[path];
      const info = await inspectPar(conformance(path));
      expect(info.signature).toBe(e.signature_valid ? 'valid' : 'invalid');
      for (const [member, ok] of Object.entries(e.hash_check as Record<string, boolean>)) {
        expect(info.targets[member.replace(/\.bin$/, '')].hashMatches).toBe(ok);
      }
      expect(info.problem?.code).toBe(NEGATIVE_CODES[path]);
    }
  });

  it('fakepay: selecting the target returns exactly its bytes', async () => {
    const par = await verifyPar(conformance('par/fakepay.par.gz'), { target: 'x86_64-linux' });
    expect(par.binary!.length).toBe(4261184);
    expect(sha256Upper(par.binary!)).toBe('B7FEAB0AE46F4A5B43778906504732FC5C361074A500485D2ECCF0B175E4FF0D');
  });
});

describe('conformance tokens', () => {
  it.each(Object.entries(expected.jwt as Record<string, any>))('jwt/%s decodes and its signature checks as expected', (file, e) => {
    const jwt = readFileSync(join(CONFORMANCE, 'jwt', file), 'utf8');
    const decoded = decodeClaimsJwt(jwt);
    expect(decoded.header).toEqual(e.header);
    expect(decoded.payload).toEqual(e.claims);
    expect(jwt.split('.')[0]).toBe(e.header_b64);
    if (e.signature_valid) expect(verifyClaimsJwt(jwt).payload).toEqual(e.claims);
    else expect(() => verifyClaimsJwt(jwt)).toThrow();
  });

  it('claims members of the real archives verify', () => {
    for (const [file, iss] of [
      ['fakepay.claims.jwt', 'ABNLQZLJFBAWP4KJR63PYCA4Y655OZOOHTGRW6FNFGEVUE5RN4PO2RXR'],
      ['libwascc_redis.claims.jwt', 'AA7IQURGTAIG4IHVP5ON7YRWLLUJBSOWOTAGK3QZKV4CC6QQNFFDS2JM'],
    ]) {
      const { payload } = verifyClaimsJwt(readFileSync(join(CONFORMANCE, 'par', file), 'utf8'));
      expect(payload.iss).toBe(iss);
    }
    const redis = verifyClaimsJwt(readFileSync(join(CONFORMANCE, 'par', 'libwascc_redis.claims.jwt'), 'utf8')).payload as any;
    expect(redis.sub).toBe('VDJ4XCXRYCOSX4HJEWQMZNSRX3ISFR2SW3SN5OZ2IPPPQL3TCAHKFMQM');
    expect(Object.keys(redis.wascap.target_hashes).sort()).toEqual(['x86_64-linux', 'x86_64-macos']);
    expect(redis.wascap.capid).toBe('wascc:keyvalue');
  });

  it('re-signing an upstream token with its committed seed reproduces it byte for byte', () => {
    const jwt = readFileSync(join(CONFORMANCE, 'jwt', 'wascc_as-actor.jwt'), 'utf8').trim();
    const seed = readFileSync(join(CONFORMANCE, 'nkeys', 'wascc_act.nk'), 'utf8').trim();
    const payloadJson = Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8');
    expect(signClaims(payloadJson, seed)).toBe(jwt);
  });

  it.each(Object.entries(manifest as Record<string, any>))(
    'synthetic %s: signing the same claims string yields the identical JWT',
    (_name, m) => {
      expect(signClaims(m.claims_json, UPSTREAM_ISSUER_SEED)).toBe(m.jwt);
    },
  );
});

describe('tar layout', () => {
  function headers(path: string): Buffer[] {
    const b = readFileSync(join(CONFORMANCE, 'par', path));
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; i += 512) out.push(b.subarray(i, i + 512));
    return out;
  }

  it('our headers equal upstream headers byte for byte for the same name and size', () => {
    const sizes: Record<string, Record<string, number>> = {
      'fakepay.tar-headers.bin': { 'claims.jwt': 637, 'x86_64-linux.bin': 4261184 },
      'libwascc_redis.tar-headers.bin': { 'claims.jwt': 699, 'x86_64-macos.bin': 2363160, 'x86_64-linux.bin': 5701792 },
    };
    for (const [file, members] of Object.entries(sizes)) {
      const upstream = headers(file);
      expect(upstream.length).toBe(Object.keys(members).length);
      Object.entries(members).forEach(([name, size], i) => {
        expect(tarHeader(name, size).equals(upstream[i])).toBe(true);
      });
    }
  });

  it('createPar writes the upstream layout: same deterministic fields, claims first, two-block end marker', async () => {
    const upstream = headers('fakepay.tar-headers.bin');
    const binary = new Uint8Array(1000).fill(7);
    const tar = Buffer.from(
      await createPar({
        name: 'n',
        vendor: 'v',
        revision: 1,
        issuerSeed: UPSTREAM_ISSUER_SEED,
        subjectSeed: UPSTREAM_SUBJECT_SEED,
        binaries: { 'x86_64-linux': binary },
        format: 'tar',
      }),
    );
    const first = tar.subarray(0, 512);
    const claimsSize = parseInt(first.subarray(124, 135).toString('latin1'), 8);
    const second = tar.subarray(512 + Math.ceil(claimsSize / 512) * 512).subarray(0, 512);
    // name, size and checksum depend on content; every other byte must be upstream's
    const masked = (h: Buffer): Buffer => {
      const c = Buffer.from(h);
      c.fill(0, 0, 100);
      c.fill(0, 124, 136);
      c.fill(0, 148, 156);
      return c;
    };
    expect(first.subarray(0, 10).toString()).toBe('claims.jwt');
    expect(masked(first).equals(masked(upstream[0]))).toBe(true);
    expect(masked(second).equals(masked(upstream[1]))).toBe(true);
    expect(second.subarray(0, 16).toString()).toBe('x86_64-linux.bin');
    expect(tar.length).toBe(512 + Math.ceil(claimsSize / 512) * 512 + 512 + 1024 + 1024);
    expect(tar.subarray(tar.length - 1024).every((b) => b === 0)).toBe(true);
    const par = await verifyPar(tar);
    expect(par.claims.issuer).toBe(publicKeyFromSeed(UPSTREAM_ISSUER_SEED));
  });
});

it('every conformance archive is covered by a test above', () => {
  const files = readdirSync(join(CONFORMANCE, 'synthetic')).filter((f) => f.includes('.par'));
  for (const f of files) expect(`synthetic/${f}` in expected.par).toBe(true);
});
