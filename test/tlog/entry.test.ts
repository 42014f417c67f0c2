/**
 * The canonical leaf encoding: the bytes are exactly the documented seven lines, they read back
 * to the same entry, and every non-canonical spelling is refused so one revision has one leaf.
 * Also our own signed notes: a fresh key signs, the note opens, and tampering is caught.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeEntry,
  encodeEntry,
  entryLeafHash,
  generateNoteKey,
  leafHash,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type LogEntry,
} from '../../tlog/index.js';
import { codeOf } from './code-of.js';

const entry: LogEntry = {
  revision: 3,
  digest: 'sha256:' + 'ab'.repeat(32),
  issuer: 'A' + 'B'.repeat(55),
  subject: 'V' + 'C'.repeat(55),
  capid: 'wasmcloud:keyvalue',
  version: '1.2.0',
};

describe('log entry encoding', () => {
  it('is the documented seven lines, byte for byte, and reads back', () => {
    const text = Buffer.from(encodeEntry(entry)).toString('utf8');
    expect(text).toBe(
      'gantry-log-entry/v1\nrevision 3\ndigest sha256:' +
        'ab'.repeat(32) +
        '\nissuer A' +
        'B'.repeat(55) +
        '\nsubject V' +
        'C'.repeat(55) +
        '\ncapid wasmcloud:keyvalue\nversion 1.2.0\n',
    );
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    expect(entryLeafHash(entry)).toEqual(leafHash(encodeEntry(entry)));
  });

  it('empty capid and version keep their single space', () => {
    const e = { ...entry, capid: '', version: '' };
    expect(Buffer.from(encodeEntry(e)).toString('utf8')).toContain('\ncapid \nversion \n');
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
  });

  it('refuses non-canonical spellings and bad fields', () => {
    const good = Buffer.from(encodeEntry(entry)).toString('utf8');
    const bad = [
      good.replace('revision 3', 'revision 03'),
      good.replace('revision 3', 'revision  3'),
      good.replace('sha256:abab', 'sha256:ABAB'),
      good.replace('gantry-log-entry/v1', 'gantry-log-entry/v2'),
      good.slice(0, -1),
      good + 'extra 1\n',
      good.replace('\n', '\r\n'),
      good.replace('capid wasmcloud:keyvalue\nversion 1.2.0\n', 'version 1.2.0\ncapid wasmcloud:keyvalue\n'),
    ];
    for (const b of bad)
      expect(
        codeOf(() => decodeEntry(Buffer.from(b, 'utf8'))),
        JSON.stringify(b),
      ).toBe('TLOG_ENTRY_MALFORMED');
    expect(codeOf(() => decodeEntry(new Uint8Array([0xff])))).toBe('TLOG_ENTRY_MALFORMED');
    expect(codeOf(() => encodeEntry({ ...entry, version: '1\n2' }))).toBe('TLOG_ENTRY_MALFORMED');
    expect(codeOf(() => encodeEntry({ ...entry, issuer: entry.subject }))).toBe('TLOG_ENTRY_MALFORMED');
    expect(codeOf(() => encodeEntry({ ...entry, revision: -1 }))).toBe('TLOG_ENTRY_MALFORMED');
  });
});

describe('our signed notes', () => {
  it('a fresh key signs; the note opens with its verifier key; tampering and a look-alike key are caught', () => {
    const { signerKey, verifierKey } = generateNoteKey('registry.example/acme/kv');
    const signer = parseSignerKey(signerKey);
    expect(signer.verifierKey).toBe(verifierKey);
    const note = signNote('gantry-log/v1 registry.example/acme/kv\n1\n' + Buffer.alloc(32).toString('base64') + '\n', [signer]);
    const v = parseVerifierKey(verifierKey);
    expect(openNote(note, [v]).text.startsWith('gantry-log/v1')).toBe(true);
    expect(codeOf(() => openNote(note.replace('\n1\n', '\n2\n'), [v]))).toBe('TLOG_NOTE_BAD_SIGNATURE');
    const other = parseVerifierKey(generateNoteKey('registry.example/acme/kv').verifierKey);
    expect(codeOf(() => openNote(note, [other]))).toBe('TLOG_NOTE_UNVERIFIED');
    expect(codeOf(() => parseSignerKey(signerKey.replace('PRIVATE+KEY+', '')))).toBe('TLOG_NOTE_BAD_KEY');
    expect(codeOf(() => signNote('no newline', [signer]))).toBe('TLOG_NOTE_MALFORMED');
    expect(codeOf(() => signNote('a\n\nb\n', [signer]))).toBe('TLOG_NOTE_MALFORMED');
  });
});
