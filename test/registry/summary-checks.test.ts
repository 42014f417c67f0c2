/**
 * registry/summary.ts alone: a config blob's summary is trusted only for what its claims JWT
 * signs (verifiedSummaryOfConfig, read without the archive), and on pull every field — signed
 * or not — is checked against the archive (checkSummaryAgainst). Each forged field is refused
 * with SUMMARY_MISMATCH naming that field and both values. No registry: the integration side is
 * forged-summary.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createPar,
  generateSeed,
  providerClaimsJson,
  publicKeyFromSeed,
  signClaims,
  type VerifiedPar,
  verifyPar,
} from '../../par/index.js';
import { sha256Digest } from '../../registry/digest.js';
import {
  type ArchiveConfig,
  checkSummaryAgainst,
  configOf,
  parseConfig,
  SIGNED_SUMMARY_FIELDS,
  SUMMARY_SCHEMA,
  verifiedSummaryOfConfig,
} from '../../registry/summary.js';

const issuerSeed = generateSeed('account');
const subjectSeed = generateSeed('service');
const where = 'reg.example/acme/kv:rev-1';

async function archive(revision: number) {
  const bytes = await createPar({
    name: 'Gantry KV',
    vendor: 'acme',
    capid: 'wascap:keyvalue',
    version: `1.${revision}.0`,
    revision,
    issuerSeed,
    subjectSeed,
    binaries: { 'x86_64-linux': Buffer.from(`linux r${revision}`), 'aarch64-linux': Buffer.from(`arm r${revision}`) },
    format: 'tar.gz',
  });
  const verified = await verifyPar(bytes);
  return { bytes, verified, layer: { digest: sha256Digest(bytes), size: bytes.length } };
}

/** The genuine config with its claims re-signed by the same issuer inside another validity window. */
function signedWithin(times: { expires?: number; notBefore?: number }): ArchiveConfig {
  const c = genuine();
  c.claimsJwt = signClaims(providerClaimsJson({ ...one.verified.claims, ...times }), issuerSeed);
  return c;
}

let one: { verified: VerifiedPar; layer: { digest: string; size: number } };
let two: { verified: VerifiedPar };
const genuine = () => structuredClone(configOf(one.verified, one.layer)) as ArchiveConfig;

beforeAll(async () => {
  one = await archive(1);
  two = await archive(2);
});

/** Each signed field forged on its own, with the value the message must show. */
const forgeries: Array<[string, (c: ArchiveConfig) => void, string, string]> = [
  ['name', (c) => void (c.name = 'Evil KV'), '"Evil KV"', '"Gantry KV"'],
  ['name', (c) => void (c.name = null), 'null', '"Gantry KV"'],
  ['vendor', (c) => void (c.vendor = 'evil'), '"evil"', '"acme"'],
  ['capid', (c) => void (c.capid = 'evil:cap'), '"evil:cap"', '"wascap:keyvalue"'],
  ['capid', (c) => void delete c.capid, 'undefined', '"wascap:keyvalue"'],
  ['version', (c) => void (c.version = '9.9.9'), '"9.9.9"', '"1.1.0"'],
  ['revision', (c) => void (c.revision = 7), '7', '1'],
  ['issuer', (c) => void (c.issuer = publicKeyFromSeed(generateSeed('account'))), '"A', `"${publicKeyFromSeed(issuerSeed)}"`],
  ['subject', (c) => void (c.subject = publicKeyFromSeed(generateSeed('service'))), '"V', `"${publicKeyFromSeed(subjectSeed)}"`],
  [
    'targets',
    (c) => void (c.targets['x86_64-linux'].sha256 = 'ab'.repeat(32)),
    `"x86_64-linux sha256 ${'ab'.repeat(32)}"`,
    '"x86_64-linux sha256 ',
  ],
  [
    'targets',
    (c) => void (c.targets['x86_64-macos'] = { sha256: 'cd'.repeat(32) }),
    '["aarch64-linux","x86_64-linux","x86_64-macos"]',
    '["aarch64-linux","x86_64-linux"]',
  ],
  ['targets', (c) => void delete c.targets['aarch64-linux'], '["x86_64-linux"]', '["aarch64-linux","x86_64-linux"]'],
];

describe('verifiedSummaryOfConfig: a summary read without its archive', () => {
  it('returns, for a genuine config, the summary of the verified claims alone: no sizes, no format', () => {
    const s = verifiedSummaryOfConfig(genuine(), where);
    expect(s).toEqual({
      name: 'Gantry KV',
      vendor: 'acme',
      capid: 'wascap:keyvalue',
      version: '1.1.0',
      revision: 1,
      issuer: publicKeyFromSeed(issuerSeed),
      subject: publicKeyFromSeed(subjectSeed),
      targets: {
        'aarch64-linux': { sha256: one.verified.targets['aarch64-linux'].sha256.toLowerCase() },
        'x86_64-linux': { sha256: one.verified.targets['x86_64-linux'].sha256.toLowerCase() },
      },
    });
  });

  it('checks every signed field the contract names', () => {
    expect([...SIGNED_SUMMARY_FIELDS]).toEqual(['name', 'vendor', 'capid', 'version', 'revision', 'issuer', 'subject', 'targets']);
    expect(new Set(forgeries.map(([f]) => f))).toEqual(new Set(SIGNED_SUMMARY_FIELDS));
  });

  it.each(forgeries)('refuses a forged %s, naming it and both values', (field, forge, stored, signed) => {
    const c = genuine();
    forge(c);
    const err = (() => {
      try {
        verifiedSummaryOfConfig(c, where);
      } catch (e) {
        return e as { code: string; message: string };
      }
    })();
    expect(err?.code).toBe('SUMMARY_MISMATCH');
    expect(err?.message).toContain(`${where}: summary field "${field}" says ${stored}`);
    expect(err?.message).toContain(`but the signed claims say ${signed}`);
    expect(err?.message).toContain('the config blob was altered');
  });

  it("accepts upper-case target hashes (the same hash) but not another archive's claims JWT", () => {
    const c = genuine();
    c.targets['x86_64-linux'].sha256 = c.targets['x86_64-linux'].sha256.toUpperCase();
    expect(verifiedSummaryOfConfig(c, where).revision).toBe(1);
    const swapped = genuine();
    swapped.claimsJwt = two.verified.jwt;
    expect(() => verifiedSummaryOfConfig(swapped, where)).toThrow(
      /summary field "version" says "1\.1\.0" but the signed claims say "1\.2\.0"/,
    );
  });

  it('compares target sets whatever their order', () => {
    const c = genuine();
    c.targets = Object.fromEntries(Object.entries(c.targets).reverse());
    expect(Object.keys(c.targets)).not.toEqual(Object.keys(verifiedSummaryOfConfig(genuine(), where).targets));
    expect(verifiedSummaryOfConfig(c, where).revision).toBe(1);
    // a wasm world's hash is signed but is no arch-os target: not a target of the summary
    const world = genuine();
    world.claimsJwt = signClaims(
      providerClaimsJson({ ...one.verified.claims, hashes: { ...one.verified.claims.hashes, 'world.wasm': 'AB'.repeat(32) } }),
      issuerSeed,
    );
    expect(Object.keys(verifiedSummaryOfConfig(world, where).targets).sort()).toEqual(['aarch64-linux', 'x86_64-linux']);
  });

  it('claims without a name, capid or version: the summary has no such keys, and a stored value for one is forged', () => {
    const { name: _n, capid: _c, version: _v, ...rest } = one.verified.claims;
    const bare = { ...genuine(), name: null, claimsJwt: signClaims(providerClaimsJson(rest as typeof one.verified.claims), issuerSeed) };
    delete bare.capid;
    delete bare.version;
    const s = verifiedSummaryOfConfig(bare, where);
    expect(s.name).toBeNull();
    expect(Object.keys(s).sort()).toEqual(['issuer', 'name', 'revision', 'subject', 'targets', 'vendor']);
    expect(() => verifiedSummaryOfConfig({ ...bare, capid: 'evil:cap' }, where)).toThrow(
      'summary field "capid" says "evil:cap" but the signed claims say undefined',
    );
    expect(() => verifiedSummaryOfConfig({ ...bare, name: 'Evil KV' }, where)).toThrow(
      'summary field "name" says "Evil KV" but the signed claims say null',
    );
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['truncated', 'TRUNC'],
    ['missing', undefined],
    ['re-signed payload', 'RESIGN'],
  ])('refuses a %s claims JWT as SUMMARY_MISMATCH', (_, jwt) => {
    const c = genuine();
    const real = c.claimsJwt;
    if (jwt === 'TRUNC') c.claimsJwt = real.slice(0, -12);
    else if (jwt === 'RESIGN') {
      // the payload edited to say "Evil KV", the genuine signature kept
      const [h, p, s] = real.split('.');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      payload.name = 'Evil KV';
      c.claimsJwt = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
      c.name = 'Evil KV';
    } else c.claimsJwt = jwt as string;
    expect(() => verifiedSummaryOfConfig(c, where)).toThrow(
      expect.objectContaining({
        code: 'SUMMARY_MISMATCH',
        message: expect.stringMatching(
          new RegExp(`^${where}: the summary's claims JWT does not verify \\(.+\\); the config blob was altered$`),
        ),
      }),
    );
  });

  it('rethrows expired and not-yet-valid claims as theirs, unless asked for the summary at any time', () => {
    const now = Math.floor(Date.now() / 1000);
    for (const [times, code] of [
      [{ notBefore: now - 7200, expires: now - 3600 }, 'PAR_EXPIRED'],
      [{ notBefore: now + 3600 }, 'PAR_NOT_YET_VALID'],
      [{ notBefore: now + 3600, expires: now + 7200 }, 'PAR_NOT_YET_VALID'],
      [{ expires: now - 60 }, 'PAR_EXPIRED'],
    ] as const) {
      const c = signedWithin(times);
      expect(() => verifiedSummaryOfConfig(c, where)).toThrow(expect.objectContaining({ code }));
      expect(verifiedSummaryOfConfig(c, where, { anyTime: true })).toEqual(verifiedSummaryOfConfig(genuine(), where));
      // still every field checked, and still the signature
      expect(() => verifiedSummaryOfConfig({ ...c, version: '9.9.9' }, where, { anyTime: true })).toThrow(
        /summary field "version" says "9\.9\.9"/,
      );
      const stranger = { ...c, claimsJwt: signClaims(providerClaimsJson({ ...one.verified.claims, ...times }), generateSeed('account')) };
      expect(() => verifiedSummaryOfConfig(stranger, where, { anyTime: true })).toThrow(/claims JWT does not verify/);
    }
  });
});

describe('checkSummaryAgainst: on pull, against the archive itself', () => {
  const refusal = (c: ArchiveConfig, digest = one.layer.digest) => {
    try {
      checkSummaryAgainst(c, one.verified, digest, where);
    } catch (e) {
      return e as { code: string; message: string };
    }
  };

  it('passes a genuine config', () => {
    expect(refusal(genuine())).toBeUndefined();
  });

  it.each(forgeries)('refuses a forged %s, naming it', (field, forge, stored) => {
    const c = genuine();
    forge(c);
    const err = refusal(c);
    expect(err?.code).toBe('SUMMARY_MISMATCH');
    expect(err?.message).toContain(`${where}: summary field "${field}" says ${stored}`);
    expect(err?.message).toContain('but the signed archive says');
  });

  it('refuses the unsigned fields when they disagree with the archive: a target size, the format', () => {
    const sized = genuine();
    sized.targets['aarch64-linux'].size = 99;
    expect(refusal(sized)?.message).toBe(
      `${where}: summary field "targets" says "aarch64-linux size 99" but the archive says "aarch64-linux size ${one.verified.targets['aarch64-linux'].size}"; the config blob was altered`,
    );
    const unsized = genuine();
    delete unsized.targets['aarch64-linux'].size;
    expect(refusal(unsized)).toBeUndefined();
    const zip = genuine();
    zip.format = 'zip';
    expect(refusal(zip)?.message).toBe(
      `${where}: summary field "format" says "zip" but the archive says "tar.gz"; the config blob was altered`,
    );
    const noFormat = genuine();
    delete noFormat.format;
    expect(refusal(noFormat)).toBeUndefined();
  });

  it('refuses a config naming another claims JWT or another archive layer, even when every field agrees', () => {
    const c = genuine();
    c.claimsJwt = two.verified.jwt;
    expect(refusal(c)).toMatchObject({ code: 'SUMMARY_MISMATCH', message: expect.stringContaining('summary field "claimsJwt" says "') });
    const short = (jwt: string) => `${jwt.slice(0, 20)}…${jwt.slice(-12)}`;
    expect(refusal(c)?.message).toBe(
      `${where}: summary field "claimsJwt" says "${short(two.verified.jwt)}" but the archive's claims.jwt says "${short(one.verified.jwt)}"; the config blob was altered`,
    );
    const forty = genuine();
    forty.claimsJwt = 'x'.repeat(40);
    expect(refusal(forty)?.message).toContain(`summary field "claimsJwt" says "${'x'.repeat(40)}"`);
    const notText = genuine();
    (notText as { claimsJwt: unknown }).claimsJwt = new Array(41).fill(0);
    expect(refusal(notText)?.message).toContain(`summary field "claimsJwt" says ${JSON.stringify(new Array(41).fill(0))} but`);
    const noArchive = genuine() as Partial<ArchiveConfig>;
    delete noArchive.archive;
    expect(refusal(noArchive as ArchiveConfig)).toMatchObject({
      code: 'SUMMARY_MISMATCH',
      message: expect.stringContaining('summary field "archive" says undefined'),
    });
    const garbage = genuine();
    garbage.claimsJwt = 'short';
    expect(refusal(garbage)?.message).toContain('summary field "claimsJwt" says "short"');
    const other = `sha256:${'0'.repeat(64)}`;
    expect(refusal(genuine(), other)?.message).toBe(
      `${where}: summary field "archive" says "${one.layer.digest}" but the archive layer says "${other}"; the config blob was altered`,
    );
  });
});

describe('parseConfig', () => {
  it('refuses what is not a Gantry summary, with its own message', () => {
    const bytes = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o));
    expect(() => parseConfig(bytes('{'), where)).toThrow(
      expect.objectContaining({ code: 'BAD_MANIFEST', message: expect.stringContaining('config blob is not JSON') }),
    );
    expect(() => parseConfig(bytes({ ...genuine(), schema: '' }), where)).toThrow(expect.objectContaining({ code: 'BAD_MANIFEST' }));
    expect(SUMMARY_SCHEMA).toBe('gantry.dev/provider-archive-summary/v1');
    const c = genuine();
    expect(parseConfig(bytes(c), where)).toEqual(c);
    for (const broken of [
      null,
      { ...c, schema: 'x' },
      { ...c, revision: 1.5 },
      { ...c, issuer: 1 },
      { ...c, subject: 1 },
      { ...c, targets: null },
      { ...c, targets: 'x' },
    ])
      expect(() => parseConfig(bytes(broken), where)).toThrow(`${where}: config blob is not a Gantry archive summary (${SUMMARY_SCHEMA})`);
  });
});
