/**
 * docs/transparency.md shows a log entry and the signed checkpoint of a log holding only that
 * entry, with the verifier key: the entry is canonical, the note verifies with that key, and
 * the checkpoint's root is the entry's leaf hash — so the page's byte-level examples are true.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';
import { decodeEntry, leafHash, openNote, parseCheckpoint, parseVerifierKey } from '../../tlog/index.js';

const page = readFileSync(join(packageRoot(), 'docs', 'transparency.md'), 'utf8');
const blocks = page
  .split(/^```.*$/m)
  .filter((_, i) => i % 2 === 1)
  .map((b) => b.replace(/^\n/, ''));

describe('docs/transparency.md examples', () => {
  it('the example entry is canonical, and the example checkpoint verifies and commits to it', () => {
    const entryText = blocks.find((b) => b.startsWith('gantry-log-entry/v1\nrevision 1\n'))!;
    const entryBytes = Buffer.from(entryText, 'utf8');
    expect(decodeEntry(entryBytes)).toMatchObject({ revision: 1, capid: 'wasmcloud:keyvalue', version: '1.1.0' });
    expect(page).toContain(`Example (${entryBytes.length} bytes)`);

    const note = blocks.find((b) => b.startsWith('registry.acme.example/providers/kv\n1\n'))!;
    const vkey = /verifier key\n`([^`]+)`/.exec(page)![1];
    const opened = openNote(note, [parseVerifierKey(vkey)]);
    const cp = parseCheckpoint(opened.text);
    expect(cp).toMatchObject({ origin: 'registry.acme.example/providers/kv', size: 1 });
    expect(Buffer.from(cp.root)).toEqual(Buffer.from(leafHash(entryBytes)));
  });
});
