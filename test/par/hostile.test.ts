/**
 * A corpus of hostile archives, built here byte by byte: each is refused with its own code,
 * before reading more than the caps allow.
 */
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync, createGzip } from 'node:zlib';
import JSZip from 'jszip';
import {
  createPar,
  decodeClaimsJwt,
  generateSeed,
  inspectPar,
  packPar,
  providerClaimsJson,
  publicKeyFromSeed,
  signClaims,
  verifyPar,
  type ProviderClaimsInput,
} from '../../par/index.js';
import { issuerSeed, rawTar, refusal, subjectSeed, type RawMember } from './fixtures.js';

const BIN = new Uint8Array(randomBytes(3000));
const HASH = createHash('sha256').update(BIN).digest('hex').toUpperCase();

function claims(over: Partial<ProviderClaimsInput> = {}): ProviderClaimsInput {
  return {
    issuer: publicKeyFromSeed(issuerSeed),
    subject: publicKeyFromSeed(subjectSeed),
    name: 'p',
    vendor: 'v',
    revision: 1,
    hashes: { 'x86_64-linux': HASH },
    ...over,
  };
}

const goodJwt = signClaims(providerClaimsJson(claims()), issuerSeed);
/** Offset of the binary's header in tarWith(): after the claims header and padded data. */
const BIN_HEADER = 512 + Math.ceil(Buffer.byteLength(goodJwt) / 512) * 512;
const jwtBytes = (jwt = goodJwt): Uint8Array => new Uint8Array(Buffer.from(jwt));

/** A tar with a good claims.jwt and the good binary, plus extra members. */
function tarWith(extra: RawMember[], opts: { jwt?: string } = {}): Uint8Array {
  return rawTar([{ name: 'claims.jwt', data: jwtBytes(opts.jwt) }, { name: 'x86_64-linux.bin', data: BIN }, ...extra]);
}

async function code(bytes: Uint8Array, opts = {}): Promise<string> {
  const err = await refusal(verifyPar(bytes, opts));
  expect(err.message.length).toBeGreaterThan(10);
  return err.code;
}

describe('sanity: the corpus base verifies', () => {
  it('the untouched tar verifies', async () => {
    expect((await verifyPar(tarWith([]))).claims.name).toBe('p');
  });
});

describe('hostile entry names and types (tar)', () => {
  it.each([
    ['../x86_64-linux.bin', 'path traversal'],
    ['/etc/passwd', 'absolute path'],
    ['bin/x86_64-linux.bin', 'directory component'],
    ['..\\evil.bin', 'windows traversal'],
    ['C:evil.bin', 'drive letter'],
    ['README.md', 'unknown member'],
    ['x86_64-plan9.bin', 'unknown os'],
    ['claims.jwt\u0000x', 'embedded NUL is cut, leaving a duplicate'],
  ])('%s (%s) is refused with PAR_BAD_ENTRY', async (name) => {
    expect(await code(tarWith([{ name, data: BIN }]))).toBe('PAR_BAD_ENTRY');
  });

  it.each([
    ['2', 'symbolic link'],
    ['1', 'hard link'],
    ['5', 'directory'],
    ['x', 'pax header'],
    ['L', 'GNU long name'],
    ['3', 'device'],
  ])('tar type %s (%s) is refused with PAR_BAD_ENTRY', async (type, what) => {
    const err = await refusal(verifyPar(tarWith([{ name: 'aarch64-linux.bin', type, linkname: '/etc/shadow' }])));
    expect(err.code).toBe('PAR_BAD_ENTRY');
    expect(err.message).toContain(what.split(' ')[0] === 'GNU' ? 'GNU' : what.split(' ').pop()!);
  });

  it('duplicate binaries and duplicate claims are refused', async () => {
    expect(await code(tarWith([{ name: 'x86_64-linux.bin', data: randomBytes(10) }]))).toBe('PAR_BAD_ENTRY');
    expect(await code(tarWith([{ name: 'claims.jwt', data: jwtBytes() }]))).toBe('PAR_BAD_ENTRY');
  });

  it('a corrupt header checksum is PAR_BAD_FORMAT', async () => {
    const t = tarWith([]);
    t[BIN_HEADER + 3] ^= 0xff; // inside the second header's name
    expect(await code(t)).toBe('PAR_BAD_FORMAT');
  });
});

describe('hostile zip structure', () => {
  async function zipOf(files: [string, Uint8Array, object?][]): Promise<Uint8Array> {
    const z = new JSZip();
    for (const [n, d, o] of files) z.file(n, d, { createFolders: false, ...(o ?? {}) } as JSZip.JSZipFileOptions);
    return z.generateAsync({ type: 'uint8array', platform: 'UNIX' });
  }

  it('zip-slip names are refused', async () => {
    for (const name of ['../x86_64-linux.bin', '/x86_64-linux.bin', 'a/x86_64-linux.bin']) {
      expect(
        await code(
          await zipOf([
            ['claims.jwt', jwtBytes()],
            [name, BIN],
          ]),
        ),
      ).toBe('PAR_BAD_ENTRY');
    }
  });

  it('a symbolic link is refused', async () => {
    const z = await zipOf([
      ['claims.jwt', jwtBytes()],
      ['x86_64-linux.bin', new Uint8Array(Buffer.from('/etc/passwd')), { unixPermissions: 0o120777 }],
    ]);
    const err = await refusal(verifyPar(z));
    expect(err.code).toBe('PAR_BAD_ENTRY');
    expect(err.message).toMatch(/symbolic link/);
  });

  it('two members with the same name are refused (jszip would silently keep one)', async () => {
    // write x86_64-linux.bin and x86_64-linux.biN, then rename the second in both headers
    const z = Buffer.from(
      await zipOf([
        ['claims.jwt', jwtBytes()],
        ['x86_64-linux.bin', BIN],
        ['x86_64-linux.biN', BIN],
      ]),
    );
    let at = -1;
    while ((at = z.indexOf('x86_64-linux.biN', at + 1)) >= 0) z.write('x86_64-linux.bin', at, 'latin1');
    const err = await refusal(verifyPar(new Uint8Array(z)));
    expect(err.code).toBe('PAR_BAD_ENTRY');
    expect(err.message).toMatch(/duplicate/);
  });

  it('a local header naming a different file than the central directory is refused', async () => {
    const z = Buffer.from(
      await zipOf([
        ['claims.jwt', jwtBytes()],
        ['x86_64-linux.bin', BIN],
      ]),
    );
    const local = z.indexOf('x86_64-linux.bin'); // the first occurrence is the local header's
    z.write('../../../../evil', local, 'latin1');
    const err = await refusal(verifyPar(new Uint8Array(z)));
    expect(err.code).toBe('PAR_BAD_ENTRY');
    expect(err.message).toMatch(/local header/);
  });

  it('directory entries and encrypted members are refused', async () => {
    const z = new JSZip();
    z.file('claims.jwt', jwtBytes());
    z.folder('x86_64-linux.bin');
    const withDir = await z.generateAsync({ type: 'uint8array', platform: 'UNIX' });
    expect((await refusal(verifyPar(withDir))).code).toBe('PAR_BAD_ENTRY');
    const enc = Buffer.from(
      await zipOf([
        ['claims.jwt', jwtBytes()],
        ['x86_64-linux.bin', BIN],
      ]),
    );
    const cd = enc.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    enc.writeUInt16LE(enc.readUInt16LE(cd + 8) | 1, cd + 8);
    const err = await refusal(verifyPar(new Uint8Array(enc)));
    expect(err.code).toBe('PAR_BAD_ENTRY');
    expect(err.message).toMatch(/encrypted/);
  });

  it('a member that inflates past its declared size is stopped (declared-size bomb)', async () => {
    const payload = new Uint8Array(randomBytes(200_000));
    const z = Buffer.from(
      await zipOf([
        ['claims.jwt', jwtBytes()],
        ['x86_64-linux.bin', payload, { compression: 'DEFLATE' }],
      ]),
    );
    // lower the declared uncompressed size in the central directory record to 1000 bytes
    const cd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    expect(z.toString('latin1', cd + 46, cd + 46 + 16)).toBe('x86_64-linux.bin');
    z.writeUInt32LE(1000, cd + 24);
    const err = await refusal(verifyPar(new Uint8Array(z)));
    expect(err.code).toBe('PAR_TOO_LARGE');
    expect(err.message).toMatch(/beyond its declared/);
  });

  it('a member declaring a huge size is refused before inflating', async () => {
    const z = Buffer.from(
      await zipOf([
        ['claims.jwt', jwtBytes()],
        ['x86_64-linux.bin', BIN, { compression: 'DEFLATE' }],
      ]),
    );
    const cd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    z.writeUInt32LE(3_000_000_000, cd + 24);
    expect(await code(new Uint8Array(z))).toBe('PAR_TOO_LARGE');
  });

  it('a highly compressed member is refused by the ratio cap', async () => {
    const zeros = new Uint8Array(20 * 1024 * 1024);
    const z = await zipOf([
      ['claims.jwt', jwtBytes()],
      ['x86_64-linux.bin', zeros, { compression: 'DEFLATE' }],
    ]);
    const err = await refusal(verifyPar(z));
    expect(err.code).toBe('PAR_TOO_LARGE');
    expect(err.message).toMatch(/decompression bomb/);
  });

  it('an end record declaring 65,534 entries is refused before reading them', async () => {
    const z = Buffer.from(
      await zipOf([
        ['claims.jwt', jwtBytes()],
        ['x86_64-linux.bin', BIN],
      ]),
    );
    const eocd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    z.writeUInt16LE(65534, eocd + 8);
    z.writeUInt16LE(65534, eocd + 10);
    expect(await code(new Uint8Array(z))).toBe('PAR_TOO_LARGE');
  });

  it('a zip cut short is PAR_TRUNCATED', async () => {
    const z = await zipOf([
      ['claims.jwt', jwtBytes()],
      ['x86_64-linux.bin', BIN],
    ]);
    expect(await code(z.subarray(0, z.length - 30))).toBe('PAR_TRUNCATED');
  });
});

describe('sizes, counts and bombs (tar and gzip)', () => {
  it('a tar member declaring 8 GiB is refused before reading', async () => {
    const t = rawTar([
      { name: 'claims.jwt', data: jwtBytes() },
      { name: 'x86_64-linux.bin', data: BIN, declaredSize: 8 * 1024 ** 3 },
    ]);
    expect(await code(t)).toBe('PAR_TOO_LARGE');
  });

  it('more entries than allowed', async () => {
    const t = tarWith([
      { name: 'aarch64-linux.bin', data: BIN },
      { name: 'x86_64-macos.bin', data: BIN },
    ]);
    expect(await code(t, { limits: { maxEntries: 3 } })).toBe('PAR_TOO_LARGE');
  });

  it('an oversized claims.jwt', async () => {
    const t = rawTar([
      { name: 'claims.jwt', data: new Uint8Array(70 * 1024).fill(0x41) },
      { name: 'x86_64-linux.bin', data: BIN },
    ]);
    expect(await code(t)).toBe('PAR_TOO_LARGE');
  });

  it('a gzip bomb stops early with flat memory', async () => {
    // 512 MiB of zeros inside a tar member, gzipped to ~500 KiB, streamed so it is never in memory
    const header = rawTar([{ name: 'claims.jwt', data: jwtBytes() }], { endMarker: false });
    const gz = createGzip({ level: 1 });
    const parts: Buffer[] = [];
    gz.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((r) => gz.on('end', r));
    gz.write(header);
    gz.write(rawTar([{ name: 'x86_64-linux.bin', declaredSize: 512 * 1024 * 1024 }], { endMarker: false }));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 512; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
    gz.end();
    await done;
    const bomb = new Uint8Array(Buffer.concat(parts));
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    const before = process.memoryUsage();
    const err = await refusal(verifyPar(bomb));
    const after = process.memoryUsage();
    expect(err.code).toBe('PAR_TOO_LARGE');
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
  });

  it('a tar cut inside a member, one without its end marker, and a cut gzip are PAR_TRUNCATED', async () => {
    const t = tarWith([]);
    expect(await code(t.subarray(0, BIN_HEADER + 1000))).toBe('PAR_TRUNCATED');
    expect(await code(t.subarray(0, t.length - 1024))).toBe('PAR_TRUNCATED');
    const gz = gzipSync(t);
    expect(await code(new Uint8Array(gz.subarray(0, gz.length >> 1)))).toBe('PAR_TRUNCATED');
  });

  it('anything that is not an archive says what it is', async () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /empty/],
      [new Uint8Array(Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(600)])), /ELF/],
      [new Uint8Array(Buffer.from(goodJwt)), /JWT/],
      [new Uint8Array(Buffer.from('BZh91AY&SY')), /bzip2/],
    ];
    for (const [bytes, re] of cases) {
      const err = await refusal(verifyPar(bytes));
      expect(err.code).toBe('PAR_BAD_FORMAT');
      expect(err.message).toMatch(re);
    }
  });
});

describe('hostile claims', () => {
  const tamper = (jwt: string, header: object): string => {
    const [, p, s] = jwt.split('.');
    return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
  };

  it.each([
    [{ typ: 'jwt', alg: 'none' }],
    [{ typ: 'JWT', alg: 'HS256' }],
    [{ typ: 'jwt', alg: 'EdDSA' }],
    [{ typ: 'jwt', alg: 'Ed25519', kid: 'x' }],
  ])('header %j is PAR_BAD_ALGORITHM', async (header) => {
    expect(await code(tarWith([], { jwt: tamper(goodJwt, header) }))).toBe('PAR_BAD_ALGORITHM');
  });

  it('alg none with an empty signature is PAR_BAD_ALGORITHM', async () => {
    const [, p] = goodJwt.split('.');
    const none = `${Buffer.from('{"typ":"jwt","alg":"none"}').toString('base64url')}.${p}.`;
    expect(await code(tarWith([], { jwt: none }))).toBe('PAR_BAD_ALGORITHM');
  });

  it('a payload changed after signing is PAR_SIGNATURE_INVALID', async () => {
    const [h, , s] = goodJwt.split('.');
    const forged = JSON.parse(decodeClaimsJwt(goodJwt).payloadJson);
    forged.wascap.vendor = 'Mallory';
    const jwt = `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`;
    expect(await code(tarWith([], { jwt }))).toBe('PAR_SIGNATURE_INVALID');
  });

  it('a token signed by another key than its iss is PAR_SIGNATURE_INVALID', async () => {
    const jwt = signClaims(providerClaimsJson(claims()), generateSeed('account'));
    expect(await code(tarWith([], { jwt }))).toBe('PAR_SIGNATURE_INVALID');
  });

  it('malformed tokens are PAR_BAD_JWT', async () => {
    for (const jwt of [
      'abc',
      'a.b',
      `${goodJwt.split('.')[0]}.@@@.x`,
      `${goodJwt.split('.')[0]}.${Buffer.from('[1]').toString('base64url')}.AA`,
    ]) {
      expect(await code(tarWith([], { jwt }))).toBe('PAR_BAD_JWT');
    }
  });

  it('wrong key types: module issuer, account subject, seeds of the wrong type', async () => {
    const moduleSeed = generateSeed('module');
    const byModule = signClaims(providerClaimsJson(claims({ issuer: publicKeyFromSeed(moduleSeed) })), moduleSeed);
    expect(await code(tarWith([], { jwt: byModule }))).toBe('PAR_BAD_ISSUER');
    const accountSubject = signClaims(providerClaimsJson(claims({ subject: publicKeyFromSeed(generateSeed('account')) })), issuerSeed);
    expect(await code(tarWith([], { jwt: accountSubject }))).toBe('PAR_BAD_SUBJECT');
    const base = { name: 'p', vendor: 'v', revision: 1, binaries: { 'x86_64-linux': BIN } };
    expect((await refusal(createPar({ ...base, issuerSeed: subjectSeed, subjectSeed }))).code).toBe('PAR_BAD_KEY');
    expect((await refusal(createPar({ ...base, issuerSeed, subjectSeed: issuerSeed }))).code).toBe('PAR_BAD_KEY');
  });

  it('expired and not-yet-valid claims', async () => {
    const bytes = await createPar({
      name: 'p',
      vendor: 'v',
      revision: 1,
      issuerSeed,
      subjectSeed,
      binaries: { 'x86_64-linux': BIN },
      expiresInSeconds: 60,
    });
    await verifyPar(bytes);
    expect(await code(bytes, { now: new Date(Date.now() + 120_000) })).toBe('PAR_EXPIRED');
    const later = Math.floor(Date.now() / 1000) + 3600;
    const future = await createPar({
      name: 'p',
      vendor: 'v',
      revision: 1,
      issuerSeed,
      subjectSeed,
      binaries: { 'x86_64-linux': BIN },
      notBefore: later,
    });
    expect(await code(future)).toBe('PAR_NOT_YET_VALID');
    await verifyPar(future, { now: new Date(later * 1000 + 1000) });
  });

  it('untrusted issuer, and an empty trust list trusts nobody', async () => {
    const bytes = tarWith([]);
    expect(await code(bytes, { trustedIssuers: [publicKeyFromSeed(generateSeed('account'))] })).toBe('PAR_UNTRUSTED_ISSUER');
    expect(await code(bytes, { trustedIssuers: [] })).toBe('PAR_UNTRUSTED_ISSUER');
    await verifyPar(bytes, { trustedIssuers: [publicKeyFromSeed(issuerSeed)] });
  });

  it('a signed hash with no binary is PAR_MISSING_BINARY; a binary with no hash is PAR_UNHASHED_TARGET', async () => {
    const jwt = signClaims(providerClaimsJson(claims({ hashes: { 'x86_64-linux': HASH, 'aarch64-linux': HASH } })), issuerSeed);
    expect(await code(tarWith([], { jwt }))).toBe('PAR_MISSING_BINARY');
    expect(await code(tarWith([{ name: 'aarch64-linux.bin', data: BIN }]))).toBe('PAR_UNHASHED_TARGET');
  });

  it('a hash for an invalid target name is PAR_BAD_CLAIMS; claims without wascap are PAR_BAD_CLAIMS', async () => {
    const jwt = signClaims(providerClaimsJson(claims({ hashes: { 'x86_64-linux': HASH, '../../etc': HASH } })), issuerSeed);
    expect(await code(tarWith([], { jwt }))).toBe('PAR_BAD_CLAIMS');
    const actor = signClaims(
      JSON.stringify({ jti: 'x', iat: 1, iss: publicKeyFromSeed(issuerSeed), sub: publicKeyFromSeed(subjectSeed) }),
      issuerSeed,
    );
    expect(await code(tarWith([], { jwt: actor }))).toBe('PAR_BAD_CLAIMS');
  });

  it('a bad target selection is PAR_BAD_TARGET; an absent one PAR_TARGET_NOT_FOUND', async () => {
    expect(await code(tarWith([]), { target: '../x' })).toBe('PAR_BAD_TARGET');
    expect(await code(tarWith([]), { target: 'aarch64-linux' })).toBe('PAR_TARGET_NOT_FOUND');
  });

  it('inspect reads a forged archive but reports it; it still refuses hostile structure', async () => {
    const jwt = tamper(goodJwt, { typ: 'jwt', alg: 'HS256' });
    const info = await inspectPar(tarWith([], { jwt }));
    expect(info.signature).toBe('invalid');
    expect(info.problem?.code).toBe('PAR_BAD_ALGORITHM');
    expect((await refusal(inspectPar(tarWith([{ name: '../x', data: BIN }])))).code).toBe('PAR_BAD_ENTRY');
  });

  it('re-signing with insert never launders a tampered binary', async () => {
    const t = tarWith([]);
    t[BIN_HEADER + 512 + 10] ^= 1; // inside x86_64-linux.bin's data
    const { insertTarget } = await import('../../par/index.js');
    const err = await refusal(insertTarget(t, { target: 'aarch64-linux', binary: BIN, issuerSeed }));
    expect(err.code).toBe('PAR_HASH_MISMATCH');
  });

  it('packPar refuses an unknown format', async () => {
    expect((await refusal(packPar(goodJwt, [['x86_64-linux', BIN]], 'rar' as never))).code).toBe('PAR_BAD_FORMAT');
  });
});
