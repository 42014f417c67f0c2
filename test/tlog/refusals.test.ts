/**
 * Each refusal of the log library, one fault at a time: the code a caller branches on and the
 * words a user reads (what is wrong, with the offending value). The conformance vectors pin the
 * codes; here every check is isolated, so that a check removed or loosened cannot hide behind a
 * later one that refuses the same input with the same code for another reason.
 */
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  decodeEntry,
  emptyRoot,
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  hashesEqual,
  inclusionProof,
  leafHash,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  rootsOf,
  signNote,
  verifyConsistency,
  verifyInclusion,
  type LogEntry,
} from '../../tlog/index.js';
import { codeOf, refusalOf } from './code-of.js';

const b64 = (bytes: Uint8Array | number[]): string => Buffer.from(Uint8Array.from(bytes)).toString('base64');
const leaves = Array.from({ length: 8 }, (_, i) => leafHash(Uint8Array.of(i)));

describe('signed notes: keys', () => {
  const { signerKey, verifierKey } = generateNoteKey('log.example/acme');
  // the base64 key material may itself contain '+'
  const [name, hash] = verifierKey.split('+');
  const material = verifierKey.slice(name.length + hash.length + 2);

  it('a generated key pair has the documented shape and both halves agree', () => {
    expect(signerKey).toMatch(/^PRIVATE\+KEY\+log\.example\/acme\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(signerKey.split('+')[3]).toBe(hash);
    expect(Buffer.from(material, 'base64')).toHaveLength(33);
    expect(Buffer.from(material, 'base64')[0]).toBe(1);
    const v = parseVerifierKey(verifierKey);
    expect({ name: v.name, keyHash: v.keyHash, verifierKey: v.verifierKey }).toEqual({ name, keyHash: hash, verifierKey });
    const s = parseSignerKey(`  ${signerKey}\n`); // a key file's surrounding white space is not part of the key
    expect({ name: s.name, keyHash: s.keyHash, verifierKey: s.verifierKey }).toEqual({ name, keyHash: hash, verifierKey });
    expect(generateNoteKey('log.example/acme').signerKey).not.toBe(signerKey);
  });

  it.each([
    ['', 'empty or has a space'],
    ['a b', 'empty or has a space'],
    ['a\tb', 'empty or has a space'],
    ['a+b', "'+'"],
    ['a\ud800', 'empty or has a space'],
  ])('a key name %j is refused', (bad, words) => {
    const r = refusalOf(() => generateNoteKey(bad));
    expect(r.code).toBe('TLOG_NOTE_BAD_KEY');
    expect(r.message.startsWith('new key: key name ')).toBe(true);
    expect(r.message).toContain(words);
    expect(r.message).toContain(JSON.stringify(bad));
  });

  it.each([
    ['no + at all', 'nameonly', 'expected <name>+<hex8 key hash>+<base64 key>'],
    ['one + only', `${name}+${hash}`, 'expected <name>+<hex8 key hash>+<base64 key>'],
    ['an empty name', `+${hash}+${material}`, 'key name ""'],
    // (not hash.toUpperCase(): a random key's hash has no letter to raise about 2 % of the time)
    ['an upper-case key hash', `${name}+A${hash.slice(1)}+${material}`, `key hash "A${hash.slice(1)}" is not 8 lowercase hex digits`],
    ['a 7-digit key hash', `${name}+${hash.slice(1)}+${material}`, 'is not 8 lowercase hex digits'],
    ['a 9-digit key hash', `${name}+${hash}0+${material}`, 'is not 8 lowercase hex digits'],
    ['key material that is not base64', `${name}+${hash}+${material.slice(0, -1)}*`, 'not standard base64'],
    ['no key material', `${name}+${hash}+`, 'not standard base64'],
    [
      'an unknown algorithm byte',
      `${name}+${hash}+${b64([2, ...Buffer.from(material, 'base64').subarray(1)])}`,
      'unknown signature algorithm 2 (only 1 = Ed25519',
    ],
    ['a 31-byte key', `${name}+${hash}+${b64([1, ...Buffer.alloc(31)])}`, 'an Ed25519 key is 32 bytes, this one is 31'],
    ['a 33-byte key', `${name}+${hash}+${b64([1, ...Buffer.alloc(33)])}`, 'this one is 33'],
    ['surrounding white space', ` ${verifierKey}`, 'surrounding white space'],
  ])('a verifier key with %s is refused', (_, bad, words) => {
    const r = refusalOf(() => parseVerifierKey(bad));
    expect(r.code).toBe('TLOG_NOTE_BAD_KEY');
    expect(r.message).toContain(words);
    expect(r.message).toContain(`verifier key ${JSON.stringify(bad)}`);
  });

  it('a verifier key whose hash does not recompute says what it recomputes to', () => {
    const other = hash === '00000000' ? '00000001' : '00000000';
    const r = refusalOf(() => parseVerifierKey(`${name}+${other}+${material}`));
    expect(r.code).toBe('TLOG_NOTE_BAD_KEY');
    expect(r.message).toContain(`key hash ${other} does not match the key (it recomputes to ${hash})`);
    // the name is part of the hash: the same key under another name is another key
    expect(codeOf(() => parseVerifierKey(`other+${hash}+${material}`))).toBe('TLOG_NOTE_BAD_KEY');
  });

  it('a signer key without its prefix, with a bad part, or with a hash that does not recompute is refused', () => {
    const noPrefix = refusalOf(() => parseSignerKey(signerKey.replace('PRIVATE+KEY+', 'PRIVATE+')));
    expect(noPrefix.code).toBe('TLOG_NOTE_BAD_KEY');
    expect(noPrefix.message).toContain('signer key: expected PRIVATE+KEY+<name>+<hex8>+<base64 seed>');
    // the signer key's own text never appears in a message
    expect(noPrefix.message).not.toContain(signerKey.slice(`PRIVATE+KEY+${name}+${hash}+`.length));
    const badHash = refusalOf(() => parseSignerKey(signerKey.replace(`+${hash}+`, `+${hash === 'ffffffff' ? '00000000' : 'ffffffff'}+`)));
    expect(badHash.code).toBe('TLOG_NOTE_BAD_KEY');
    expect(badHash.message).toContain('does not match the key');
    const badAlg = refusalOf(() => parseSignerKey(`PRIVATE+KEY+${name}+${hash}+${b64([3, ...Buffer.alloc(32)])}`));
    expect(badAlg.message).toContain('signer key: unknown signature algorithm 3');
  });

  it('a verifier refuses a signature that is not 64 bytes without asking the crypto library', () => {
    const v = parseVerifierKey(verifierKey);
    const s = parseSignerKey(signerKey);
    const msg = Buffer.from('text\n');
    const sig = s.sign(msg);
    expect(sig).toHaveLength(64);
    expect(v.verify(msg, sig)).toBe(true);
    expect(v.verify(msg, Uint8Array.from([...sig, 0]))).toBe(false);
    expect(v.verify(msg, sig.subarray(0, 63))).toBe(false);
    expect(v.verify(Buffer.from('text!\n'), sig)).toBe(false);
  });
});

describe('signed notes: framing', () => {
  const a = generateNoteKey('a.example/log');
  const b = generateNoteKey('b.example/log');
  const signerA = parseSignerKey(a.signerKey);
  const signerB = parseSignerKey(b.signerKey);
  const va = parseVerifierKey(a.verifierKey);
  const vb = parseVerifierKey(b.verifierKey);
  const sigLineOf = (note: string): string => note.split('\n').filter((l) => l.startsWith('\u2014 '))[0];

  it('signs with every signer, in order, one line each, and opens with any one of them trusted', () => {
    const note = signNote('hello\nworld\n', [signerA, signerB]);
    const lines = note.split('\n');
    expect(lines.slice(0, 3)).toEqual(['hello', 'world', '']);
    expect(lines[3]).toMatch(/^\u2014 a\.example\/log [A-Za-z0-9+/]{91}=$/);
    expect(lines[4]).toMatch(/^\u2014 b\.example\/log [A-Za-z0-9+/]{91}=$/);
    expect(lines.slice(5)).toEqual(['']);
    // the signature line starts with the 4-byte key ID
    expect(Buffer.from(lines[3].split(' ')[2], 'base64').subarray(0, 4).toString('hex')).toBe(signerA.keyHash);
    const opened = openNote(note, [vb]);
    expect(opened.text).toBe('hello\nworld\n');
    expect(opened.verified).toEqual([{ name: 'b.example/log', keyHash: signerB.keyHash, base64: lines[4].split(' ')[2] }]);
    expect(opened.unverified).toEqual([{ name: 'a.example/log', keyHash: signerA.keyHash, base64: lines[3].split(' ')[2] }]);
    const both = openNote(note, [va, vb]);
    expect(both.verified.map((s) => s.name)).toEqual(['a.example/log', 'b.example/log']);
    expect(both.unverified).toEqual([]);
  });

  it.each([
    ['text without a final newline', 'hello', 'the text does not end with a newline'],
    ['text with a blank line', 'a\n\nb\n', 'the text contains a blank line'],
    ['text with a tab', 'a\tb\n', 'the text contains the control character U+0009 at offset 1'],
    ['text with a carriage return', 'ab\r\n', 'U+000d at offset 2'],
    ['text that is not UTF-8', 'a\ud800\n', 'the text is not valid UTF-8'],
  ])('signing %s is refused', (_, text, words) => {
    const r = refusalOf(() => signNote(text, [signerA]));
    expect(r.code).toBe('TLOG_NOTE_MALFORMED');
    expect(r.message.startsWith('not a signed note: ')).toBe(true);
    expect(r.message).toContain(words);
  });

  it('signing with no signer is refused', () => {
    expect(refusalOf(() => signNote('a\n', [])).message).toBe('not a signed note: no signer given');
  });

  it.each<[string, (note: string) => string | Uint8Array, string]>([
    [
      'bytes that are not UTF-8',
      (n) => Uint8Array.from([...Buffer.from(n).subarray(0, 3), 0xc3, 0x28, ...Buffer.from(n).subarray(3)]),
      'it is not valid UTF-8',
    ],
    ['a control character', (n) => n.replace('hello', 'hel\u0001lo'), 'the note contains the control character U+0001 at offset 3'],
    ['no final newline', (n) => n.slice(0, -1), 'it does not end with a newline'],
    ['no blank line', (n) => n.replace('\n\n', '\n'), 'there is no blank line before the signatures'],
    ['no signature lines', () => 'hello\n\n', 'there are no signature lines'],
    ['a line that is not a signature', (n) => n + 'plain line\n', 'the line "plain line" is not a signature line'],
    ['a signature line with a hyphen', (n) => n.replace('\u2014 ', '- '), 'is not a signature line ("— name signature")'],
    ['a signature line without a signature', (n) => n + '\u2014 a.example/log\n', 'has a bad key name or signature encoding'],
    ['a signature line with an empty signature', (n) => n + '\u2014 a.example/log \n', 'has a bad key name or signature encoding'],
    ['a signature line with a bad name', (n) => n + `\u2014 a+b ${b64(Buffer.alloc(68))}\n`, 'has a bad key name or signature encoding'],
    [
      'a signature of four bytes (a key ID, no signature)',
      (n) => n + `\u2014 x ${b64(Buffer.alloc(4))}\n`,
      'has a bad key name or signature encoding',
    ],
    ['a signature that is not base64', (n) => n + '\u2014 x AAAAAA*=\n', 'has a bad key name or signature encoding'],
    [
      'a signature line that is only base64 (no name, no space)',
      (n) => n + '\u2014 AAAAAAAA\n',
      'the signature line "— AAAAAAAA" has a bad key name',
    ],
    ['a long line, quoted to 40 characters', (n) => n + 'x'.repeat(50) + '\n', `the line "${'x'.repeat(40)}" is not a signature line`],
    [
      'a long bad signature line, quoted to 40 characters',
      (n) => n + `\u2014 ${'y'.repeat(50)}\n`,
      `the signature line "— ${'y'.repeat(38)}" has a bad key name`,
    ],
  ])('opening a note with %s is refused', (_, mangle, words) => {
    const note = signNote('hello\n', [signerA]);
    const r = refusalOf(() => openNote(mangle(note), [va]));
    expect(r.code).toBe('TLOG_NOTE_MALFORMED');
    expect(r.message.startsWith('not a signed note: ')).toBe(true);
    expect(r.message).toContain(words);
  });

  it('a note whose text itself contains a blank line is split at the last one', () => {
    // the text of a note ends at the last blank line: anything above it is text, and the
    // text's own blank line makes it unverifiable rather than moving the signatures
    const note = signNote('hello\n', [signerA]);
    const r = refusalOf(() => openNote('head\n\n' + note, [va]));
    expect(r.code).toBe('TLOG_NOTE_BAD_SIGNATURE');
  });

  it('a note that starts with a byte-order mark is not the note that was signed', () => {
    const note = signNote('hello\n', [signerA]);
    const r = refusalOf(() => openNote(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(note)]), [va]));
    expect(r.code).toBe('TLOG_NOTE_BAD_SIGNATURE');
  });

  it('a note whose text is one empty line signs and opens (as in Go)', () => {
    const note = signNote('\n', [signerA]);
    expect(note.startsWith('\n\n\u2014 a.example/log ')).toBe(true);
    expect(openNote(note, [va]).text).toBe('\n');
  });

  it('reads at most 100 signature lines: 100 open, 101 are refused', () => {
    const note = signNote('hello\n', [signerA]);
    const unknown = `\u2014 unknown ${b64(Buffer.alloc(68, 7))}\n`;
    expect(openNote(note + unknown.repeat(99), [va]).verified).toHaveLength(1);
    const r = refusalOf(() => openNote(note + unknown.repeat(100), [va]));
    expect(r.message).toBe('not a signed note: more than 100 signatures');
  });

  it('a five-byte signature from an unknown key is carried, not refused; the same key twice is listed once', () => {
    const note = signNote('hello\n', [signerA]);
    const short = `\u2014 unknown ${b64([1, 2, 3, 4, 5])}\n`;
    const opened = openNote(note + short + short, [va]);
    expect(opened.unverified).toEqual([{ name: 'unknown', keyHash: '01020304', base64: b64([1, 2, 3, 4, 5]) }]);
    // a trusted signature repeated is verified each time and listed once
    const twice = openNote(note + sigLineOf(note) + '\n', [va]);
    expect(twice.verified).toHaveLength(1);
  });

  it('a bad signature by a trusted key is refused even when another trusted key signed, and names the key', () => {
    const note = signNote('hello\n', [signerA, signerB]);
    const forgedLine = sigLineOf(signNote('other\n', [signerB]));
    const tampered = note
      .split('\n')
      .map((l) => (l.startsWith('\u2014 b.example') ? forgedLine : l))
      .join('\n');
    const r = refusalOf(() => openNote(tampered, [va, vb]));
    expect(r.code).toBe('TLOG_NOTE_BAD_SIGNATURE');
    expect(r.message).toContain(`the signature by b.example/log+${signerB.keyHash} does not verify`);
    // and the good signature alone still opens with A trusted
    expect(openNote(tampered, [va]).verified.map((s) => s.name)).toEqual(['a.example/log']);
  });

  it('an unverified note names the trusted keys (or none) and who did sign', () => {
    const note = signNote('hello\n', [signerA]);
    const r = refusalOf(() => openNote(note, [vb]));
    expect(r.code).toBe('TLOG_NOTE_UNVERIFIED');
    expect(r.message).toBe(
      `no signature by a trusted key (b.example/log+${signerB.keyHash}); the note is signed only by a.example/log+${signerA.keyHash}`,
    );
    expect(refusalOf(() => openNote(note, [])).message).toContain('no signature by a trusted key ((none))');
    expect(refusalOf(() => openNote(note, [vb, vb])).message).toContain(
      `(b.example/log+${signerB.keyHash}, b.example/log+${signerB.keyHash})`,
    );
    const two = signNote('hello\n', [signerA, signerB]);
    const c = parseVerifierKey(generateNoteKey('c.example/log').verifierKey);
    expect(refusalOf(() => openNote(two, [c])).message).toContain(
      `signed only by a.example/log+${signerA.keyHash}, b.example/log+${signerB.keyHash}`,
    );
  });

  it('a trusted name with another key hash does not verify and does not count', () => {
    const note = signNote('hello\n', [signerA]);
    const sameName = parseVerifierKey(generateNoteKey('a.example/log').verifierKey);
    expect(codeOf(() => openNote(note, [sameName]))).toBe('TLOG_NOTE_UNVERIFIED');
  });
});

describe('checkpoint bodies', () => {
  const root = b64(Buffer.alloc(32, 1));

  it.each([
    ['a tab', `o\n1\n${root}\n\t\n`, 'it contains a control character other than newline'],
    ['a carriage return', `o\r\n1\n${root}\n`, 'it contains a control character other than newline'],
    ['no final newline', `o\n1\n${root}`, 'it does not end with a newline'],
    ['two lines', 'o\n1\n', 'it has 2 lines, at least 3 are needed (origin, size, root)'],
    ['an empty origin', `\n1\n${root}\n`, 'the origin line is empty'],
    ['a signed size', `o\n+1\n${root}\n`, 'the tree size "+1" is not a decimal number without sign or leading zeros'],
    ['a leading zero', `o\n01\n${root}\n`, 'the tree size "01" is not a decimal'],
    ['an empty size', `o\n\n${root}\n`, 'the tree size "" is not a decimal'],
    ['a size past 64 bits', `o\n18446744073709551616\n${root}\n`, 'the tree size 18446744073709551616 does not fit in 64 bits'],
    ['the largest 64-bit size', `o\n18446744073709551615\n${root}\n`, 'the tree size 18446744073709551615 is above 2^53−1'],
    ['a size of 2^53', `o\n9007199254740992\n${root}\n`, 'is above 2^53−1'],
    ['an unpadded root', `o\n1\n${root.replace('=', '')}\n`, 'is not canonical standard base64 with padding'],
    ['a base64url root', `o\n1\n${b64(Buffer.alloc(32, 0xfb))}\n`.replace(/\+/g, '-'), 'is not canonical standard base64'],
    ['a 31-byte root', `o\n1\n${b64(Buffer.alloc(31))}\n`, 'the root hash is 31 bytes, not 32'],
    ['a 33-byte root', `o\n1\n${b64(Buffer.alloc(33))}\n`, 'the root hash is 33 bytes, not 32'],
    ['an empty extension line', `o\n1\n${root}\next\n\n`, 'an extension line is empty'],
  ])('a body with %s is refused', (_, body, words) => {
    const r = refusalOf(() => parseCheckpoint(body));
    expect(r.code).toBe('TLOG_CHECKPOINT_MALFORMED');
    expect(r.message.startsWith('not a tlog-checkpoint: ')).toBe(true);
    expect(r.message).toContain(words);
  });

  it('sizes up to 2^53−1 and extensions read back exactly', () => {
    const c = parseCheckpoint(`o\n9007199254740991\n${root}\nx\ny z\n`);
    expect(c).toEqual({ origin: 'o', size: 9007199254740991, root: new Uint8Array(Buffer.alloc(32, 1)), extensions: ['x', 'y z'] });
    expect(formatCheckpoint(c)).toBe(`o\n9007199254740991\n${root}\nx\ny z\n`);
    expect(parseCheckpoint(`o\n0\n${root}\n`).size).toBe(0);
  });

  it('refuses to write what it would refuse to read', () => {
    const c = { origin: 'a\nb', size: 1, root: new Uint8Array(32), extensions: [] };
    expect(codeOf(() => formatCheckpoint(c))).toBe('TLOG_CHECKPOINT_MALFORMED');
    expect(codeOf(() => formatCheckpoint({ ...c, origin: 'o', extensions: [''] }))).toBe('TLOG_CHECKPOINT_MALFORMED');
    expect(formatCheckpoint({ ...c, origin: 'o', extensions: ['e'] })).toBe(`o\n1\n${b64(Buffer.alloc(32))}\ne\n`);
  });
});

describe('log entries', () => {
  const entry: LogEntry = {
    revision: 7,
    digest: 'sha256:' + '0f'.repeat(32),
    issuer: 'A' + 'Z'.repeat(55),
    subject: 'V' + '2'.repeat(55),
    capid: 'wasmcloud:httpserver',
    version: '0.1.0',
  };
  const text = Buffer.from(encodeEntry(entry)).toString('utf8');

  it.each<[string, Partial<LogEntry>, string]>([
    ['a fractional revision', { revision: 1.5 }, 'revision 1.5 is not a non-negative integer'],
    ['a negative revision', { revision: -1 }, 'revision -1 is not a non-negative integer'],
    ['a revision past 2^53', { revision: 2 ** 53 }, `revision ${2 ** 53} is not a non-negative integer`],
    [
      'an upper-case digest',
      { digest: 'sha256:' + '0F'.repeat(32) },
      `digest "sha256:${'0F'.repeat(32)}" is not sha256:<64 lowercase hex>`,
    ],
    ['a sha512 digest', { digest: 'sha512:' + '0f'.repeat(32) }, 'is not sha256:<64 lowercase hex>'],
    ['a short digest', { digest: 'sha256:' + '0f'.repeat(31) }, 'is not sha256:<64 lowercase hex>'],
    ['a digest with a suffix', { digest: 'sha256:' + '0f'.repeat(32) + 'x' }, 'is not sha256:<64 lowercase hex>'],
    ['a digest with a prefix', { digest: 'xsha256:' + '0f'.repeat(32) }, 'is not sha256:<64 lowercase hex>'],
    ['an issuer with a prefix', { issuer: 'XA' + 'Z'.repeat(55) }, 'is not an account key (A…)'],
    ['a subject with a prefix', { subject: 'XV' + '2'.repeat(55) }, 'is not a service key (V…)'],
    ['a service key as issuer', { issuer: 'V' + 'Z'.repeat(55) }, `issuer "V${'Z'.repeat(55)}" is not an account key (A…)`],
    ['a short issuer', { issuer: 'A' + 'Z'.repeat(54) }, 'is not an account key (A…)'],
    ['an issuer with a suffix', { issuer: 'A' + 'Z'.repeat(55) + ' ' }, 'is not an account key (A…)'],
    ['an account key as subject', { subject: 'A' + '2'.repeat(55) }, `subject "A${'2'.repeat(55)}" is not a service key (V…)`],
    ['a subject with a suffix', { subject: 'V' + '2'.repeat(56) }, 'is not a service key (V…)'],
    ['a capid with a newline', { capid: 'a\nb' }, 'capid has a control character or newline'],
    ['a capid with NUL', { capid: 'a\u0000' }, 'capid has a control character or newline'],
    ['a version with DEL', { version: '1\u007f' }, 'version has a control character or newline'],
    ['a version that is not a string', { version: 1 as unknown as string }, 'version has a control character or newline'],
    ['a capid that is not UTF-8', { capid: 'a\udc00' }, 'capid is not valid UTF-8'],
  ])('encoding an entry with %s is refused', (_, over, words) => {
    const r = refusalOf(() => encodeEntry({ ...entry, ...over }));
    expect(r.code).toBe('TLOG_ENTRY_MALFORMED');
    expect(r.message.startsWith('not a gantry-log-entry/v1 log entry: ')).toBe(true);
    expect(r.message).toContain(words);
  });

  it('unicode in capid and version is kept, and revision 0 and 2^53−1 are entries', () => {
    for (const e of [
      { ...entry, capid: 'wasmcloud:ключ', version: 'v1 — β' },
      { ...entry, revision: 0 },
      { ...entry, revision: 2 ** 53 - 1 },
    ]) {
      expect(decodeEntry(encodeEntry(e))).toEqual(e);
    }
  });

  it.each<[string, string | Uint8Array, string]>([
    [
      'bytes that are not UTF-8',
      Uint8Array.from([...Buffer.from(text).subarray(0, 5), 0xff, ...Buffer.from(text).subarray(5)]),
      'it is not valid UTF-8',
    ],
    ['no final newline', text.slice(0, -1), 'it does not end with a newline'],
    ['another format line', text.replace('gantry-log-entry/v1', 'gantry-log-entry/v2'), 'the first line is not gantry-log-entry/v1'],
    ['a byte-order mark', '\ufeff' + text, 'the first line is not gantry-log-entry/v1'],
    ['a missing line', text.replace(/version [^\n]*\n/, ''), 'it has 6 lines, not 7'],
    ['an extra line', text + 'extra 1\n', 'it has 8 lines, not 7'],
    [
      'fields out of order',
      text.replace(/issuer ([^\n]*)\nsubject ([^\n]*)\n/, 'subject $2\nissuer $1\n'),
      'line 4 is not "issuer <value>"',
    ],
    ['no space after a key', text.replace('capid wasmcloud:httpserver', 'capid'), 'line 6 is not "capid <value>"'],
    ['a revision with a leading zero', text.replace('revision 7', 'revision 07'), 'revision "07" is not canonical decimal'],
    ['a revision with a sign', text.replace('revision 7', 'revision +7'), 'revision "+7" is not canonical decimal'],
    [
      'a revision of 17 digits',
      text.replace('revision 7', 'revision 10000000000000000'),
      'revision "10000000000000000" is not canonical decimal',
    ],
    ['a revision with two spaces', text.replace('revision 7', 'revision  7'), 'revision " 7" is not canonical decimal'],
    ['an upper-case digest', text.replace('0f0f', '0F0F'), 'is not sha256:<64 lowercase hex>'],
  ])('decoding an entry with %s is refused', (_, bad, words) => {
    const bytes = typeof bad === 'string' ? new Uint8Array(Buffer.from(bad, 'utf8')) : bad;
    const r = refusalOf(() => decodeEntry(bytes));
    expect(r.code).toBe('TLOG_ENTRY_MALFORMED');
    expect(r.message).toContain(words);
  });

  it('a revision of 16 digits is read (the canonical form allows up to 2^53−1)', () => {
    const e = { ...entry, revision: 1000000000000000 };
    expect(decodeEntry(encodeEntry(e)).revision).toBe(1000000000000000);
    expect(decodeEntry(Buffer.from(text.replace('revision 7', 'revision 0'))).revision).toBe(0);
  });
});

describe('Merkle trees: refusals and edges', () => {
  it('tree sizes outside the stored leaves are refused with the size and the count', () => {
    for (const [size, words] of [
      [9, 'tree size 9 is outside the 8 stored leaves'],
      [-1, 'tree size -1 is outside'],
      [1.5, 'tree size 1.5 is outside'],
    ] as const) {
      const r = refusalOf(() => rootOf(leaves, size));
      expect(r.code).toBe('TLOG_BAD_INDEX');
      expect(r.message).toContain(words);
      expect(codeOf(() => rootsOf(leaves, [1, size]))).toBe('TLOG_BAD_INDEX');
      expect(codeOf(() => inclusionProof(leaves, 0, size))).toBe('TLOG_BAD_INDEX');
      expect(codeOf(() => consistencyProof(leaves, 1, size))).toBe('TLOG_BAD_INDEX');
    }
    expect(rootOf(leaves, 8)).toEqual(rootOf(leaves));
    expect(rootOf(leaves, 0)).toEqual(emptyRoot());
  });

  it('rootsOf gives exactly the sizes asked for', () => {
    expect(rootsOf(leaves, [])).toEqual(new Map());
    expect([...rootsOf(leaves, [0]).keys()]).toEqual([0]);
    const some = rootsOf(leaves, [5, 2]);
    expect([...some.keys()].sort()).toEqual([2, 5]);
    expect(some.get(5)).toEqual(rootOf(leaves, 5));
    expect(some.get(2)).toEqual(rootOf(leaves, 2));
    expect(rootsOf(leaves, [1]).get(1)).toEqual(leaves[0]);
    // every stored leaf, for a size that merges at the last leaf
    const seven = leaves.slice(0, 7);
    expect(rootsOf(seven, [7]).get(7)).toEqual(rootOf(seven));
    expect(rootsOf(leaves, [8]).get(8)).toEqual(rootOf(leaves));
  });

  it('proof requests outside the tree name the index and the sizes', () => {
    expect(refusalOf(() => inclusionProof(leaves, 5, 5)).message).toBe('leaf index 5 is not in a tree of size 5');
    expect(refusalOf(() => inclusionProof(leaves, -1, 5)).message).toBe('leaf index -1 is not in a tree of size 5');
    expect(refusalOf(() => inclusionProof(leaves, 0.5, 5)).code).toBe('TLOG_BAD_INDEX');
    expect(inclusionProof(leaves, 4, 5)).toEqual([rootOf(leaves.slice(0, 4))]);
    expect(inclusionProof(leaves, 0, 1)).toEqual([]);
    expect(refusalOf(() => consistencyProof(leaves, 0, 5)).message).toBe(
      'no consistency proof from size 0 to size 5 (need 1 ≤ size1 ≤ size2)',
    );
    expect(refusalOf(() => consistencyProof(leaves, 6, 5)).code).toBe('TLOG_BAD_INDEX');
    expect(refusalOf(() => consistencyProof(leaves, 1.5, 5)).code).toBe('TLOG_BAD_INDEX');
    expect(consistencyProof(leaves, 5, 5)).toEqual([]);
  });

  it('verification names what is wrong', () => {
    const r5 = rootOf(leaves, 5);
    const r8 = rootOf(leaves, 8);
    const p = inclusionProof(leaves, 2, 5);
    const msg = (fn: () => unknown): string => {
      const r = refusalOf(fn);
      return `${r.code}: ${r.message}`;
    };
    expect(msg(() => verifyInclusion(leaves[2], 2.5, 5, p, r5))).toBe(`TLOG_BAD_INDEX: leaf index 2.5 is not an unsigned 64-bit integer`);
    expect(msg(() => verifyInclusion(leaves[2], -1n, 5, p, r5))).toBe(`TLOG_BAD_INDEX: leaf index -1 is not an unsigned 64-bit integer`);
    expect(msg(() => verifyInclusion(leaves[2], 2, 2n ** 64n, p, r5))).toBe(
      `TLOG_BAD_INDEX: tree size ${2n ** 64n} is not an unsigned 64-bit integer`,
    );
    expect(msg(() => verifyInclusion(leaves[2], 2, 5, p, r5.subarray(1)))).toBe(`TLOG_BAD_HASH: root hash is 31 bytes, not 32`);
    expect(msg(() => verifyInclusion(leaves[2].subarray(2), 2, 5, p, r5))).toBe(`TLOG_BAD_HASH: leaf hash is 30 bytes, not 32`);
    expect(msg(() => verifyInclusion(leaves[2], 2, 5, [p[0], p[1].subarray(1), p[2]], r5))).toBe(
      `TLOG_BAD_HASH: inclusion proof hash 1 is 31 bytes, not 32`,
    );
    expect(msg(() => verifyInclusion(leaves[2], 5, 5, p, r5))).toBe(`TLOG_BAD_INDEX: leaf index 5 is not in a tree of size 5`);
    expect(msg(() => verifyInclusion(leaves[2], 2, 5, p.slice(1), r5))).toBe(
      `TLOG_BAD_PROOF: inclusion proof for leaf 2 of 5 has 2 hashes, needs 3`,
    );
    expect(msg(() => verifyInclusion(leaves[3], 2, 5, p, r5))).toBe(
      `TLOG_BAD_PROOF: inclusion proof for leaf 2 does not lead to the root of the tree of size 5`,
    );

    expect(msg(() => verifyConsistency(1.5, 8, [], r5, r8))).toBe('TLOG_BAD_INDEX: tree size 1.5 is not an unsigned 64-bit integer');
    expect(msg(() => verifyConsistency(1, 2n ** 64n, [], r5, r8))).toBe(
      `TLOG_BAD_INDEX: tree size ${2n ** 64n} is not an unsigned 64-bit integer`,
    );
    // 2^64−1 is a size like any other: the proof is what is wrong
    expect(msg(() => verifyInclusion(leaves[2], 0, 2n ** 64n - 1n, [], r5))).toBe(
      `TLOG_BAD_PROOF: inclusion proof for leaf 0 of ${2n ** 64n - 1n} has 0 hashes, needs 64`,
    );
    const c = consistencyProof(leaves, 3, 8);
    expect(msg(() => verifyConsistency(8, 3, c, r8, r5))).toBe(
      `TLOG_BAD_INDEX: tree size 3 is smaller than the earlier size 8: the log went back`,
    );
    expect(msg(() => verifyConsistency(0, 3, c, emptyRoot(), r5))).toBe(`TLOG_BAD_INDEX: no consistency proof starts at the empty tree`);
    expect(msg(() => verifyConsistency(5, 5, [r5], r5, r5))).toBe(
      `TLOG_BAD_PROOF: sizes are equal (5) but the consistency proof is not empty`,
    );
    expect(msg(() => verifyConsistency(5, 5, [], r5, r8))).toBe(`TLOG_BAD_PROOF: two different roots for the same tree size 5`);
    expect(msg(() => verifyConsistency(3, 8, [], rootOf(leaves, 3), r8))).toBe(`TLOG_BAD_PROOF: empty consistency proof from size 3 to 8`);
    expect(msg(() => verifyConsistency(3, 8, c, rootOf(leaves, 3).subarray(1), r8))).toBe(`TLOG_BAD_HASH: root hash is 31 bytes, not 32`);
    expect(msg(() => verifyConsistency(3, 8, c, rootOf(leaves, 3), r8.subarray(1)))).toBe(`TLOG_BAD_HASH: root hash is 31 bytes, not 32`);
    expect(msg(() => verifyConsistency(3, 8, [c[0].subarray(1), ...c.slice(1)], rootOf(leaves, 3), r8))).toBe(
      `TLOG_BAD_HASH: consistency proof hash 0 is 31 bytes, not 32`,
    );
    expect(msg(() => verifyConsistency(3, 8, [...c, c[0]], rootOf(leaves, 3), r8))).toBe(
      `TLOG_BAD_PROOF: consistency proof is longer than needed`,
    );
    expect(msg(() => verifyConsistency(3, 8, c.slice(0, -1), rootOf(leaves, 3), r8))).toBe(
      `TLOG_BAD_PROOF: consistency proof is shorter than needed`,
    );
    expect(msg(() => verifyConsistency(3, 8, c, rootOf(leaves, 4), r8))).toBe(
      `TLOG_BAD_PROOF: consistency proof does not lead to the root of size 3`,
    );
    expect(msg(() => verifyConsistency(3, 8, c, rootOf(leaves, 3), r5))).toBe(
      `TLOG_BAD_PROOF: consistency proof does not lead to the root of size 8`,
    );
  });

  it('equal sizes with equal roots need no proof, whatever the roots\u2019 length', () => {
    const r = rootOf(leaves, 5);
    verifyConsistency(5, 5, [], r, r);
    verifyConsistency(5n, 5n, [], r.subarray(0, 3), r.subarray(0, 3));
    expect(codeOf(() => verifyConsistency(5, 5, [], r.subarray(0, 3), r.subarray(0, 4)))).toBe('TLOG_BAD_PROOF');
  });

  it('every inclusion and consistency proof in trees of 1..17 leaves verifies, and each flipped bit is caught', () => {
    const many = Array.from({ length: 17 }, (_, i) => leafHash(Uint8Array.of(i, i)));
    for (let n = 1; n <= many.length; n++) {
      const root = rootOf(many, n);
      for (let i = 0; i < n; i++) {
        const p = inclusionProof(many, i, n);
        verifyInclusion(many[i], i, n, p, root);
        verifyInclusion(many[i], BigInt(i), BigInt(n), p, root);
        if (n > 1)
          expect(
            codeOf(() => verifyInclusion(many[(i + 1) % n], i, n, p, root)),
            `${i}/${n}`,
          ).toBe('TLOG_BAD_PROOF');
        for (let j = 0; j < p.length; j++) {
          const bad = p.map((x) => new Uint8Array(x));
          bad[j][31] ^= 1;
          expect(
            codeOf(() => verifyInclusion(many[i], i, n, bad, root)),
            `${i}/${n} hash ${j}`,
          ).toBe('TLOG_BAD_PROOF');
        }
      }
      for (let m = 1; m < n; m++) {
        const c = consistencyProof(many, m, n);
        const r1 = rootOf(many, m);
        verifyConsistency(m, n, c, r1, root);
        for (let j = 0; j < c.length; j++) {
          const bad = c.map((x) => new Uint8Array(x));
          bad[j][0] ^= 0x80;
          expect(
            codeOf(() => verifyConsistency(m, n, bad, r1, root)),
            `${m}→${n} hash ${j}`,
          ).toBe('TLOG_BAD_PROOF');
        }
        expect(
          codeOf(() => verifyConsistency(m, n, c, root, root)),
          `${m}→${n} wrong root1`,
        ).toBe('TLOG_BAD_PROOF');
      }
    }
  });

  it('hashesEqual compares length and every byte', () => {
    const a = leaves[0];
    expect(hashesEqual(a, new Uint8Array(a))).toBe(true);
    expect(hashesEqual(a, a.subarray(0, 31))).toBe(false);
    const last = new Uint8Array(a);
    last[31] ^= 1;
    expect(hashesEqual(a, last)).toBe(false);
    const first = new Uint8Array(a);
    first[0] ^= 0x80;
    expect(hashesEqual(a, first)).toBe(false);
    expect(hashesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
