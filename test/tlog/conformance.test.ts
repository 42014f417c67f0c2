/**
 * Every vector in test/conformance/tlog (the in-repo copy of the published transparency-log
 * conformance data) verifies or fails exactly as it says: RFC 6962 hashes, roots, subtrees,
 * published and derived inclusion/consistency proofs (computed by us byte for byte and
 * verified), the real Certificate Transparency inclusion proof, all 196 accept/reject probes
 * (2^64−1 indices as BigInt), all signed notes (each refusal with its own code), and all
 * checkpoint bodies.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';
import {
  consistencyProof,
  emptyRoot,
  formatCheckpoint,
  inclusionProof,
  leafHash,
  nodeHash,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  rootsOf,
  signNote,
  verifyConsistency,
  verifyInclusion,
  type TlogErrorCode,
} from '../../tlog/index.js';
import { codeOf } from './code-of.js';

const dir = join(packageRoot(), 'test', 'conformance', 'tlog');
const load = (name: string): any => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const rfc = load('rfc6962.json');
const notes = load('notes.json');
const checkpoints = load('checkpoints.json');

const h = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hx = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const num = (v: number | string): number | bigint => (typeof v === 'string' ? BigInt(v) : v);

const leaves: Uint8Array[] = rfc.leaves.map(h);
const leafHashes = leaves.map(leafHash);

describe('RFC 6962 hashing', () => {
  it('leaf hashes of the 8 published leaves', () => {
    expect(leafHashes.map(hx)).toEqual(rfc.leafHashes);
  });

  it('roots for sizes 0..8', () => {
    expect(rfc.roots).toHaveLength(9);
    for (const { size, root } of rfc.roots) expect(hx(rootOf(leafHashes, size)), `size ${size}`).toBe(root);
    // the one-pass computation of many prefix roots agrees, in any order of sizes
    const all = rootsOf(leafHashes, [8, 0, 3, 1, 2, 5, 4, 7, 6]);
    for (const { size, root } of rfc.roots) expect(hx(all.get(size)!), `rootsOf size ${size}`).toBe(root);
  });

  it('every complete subtree', () => {
    expect(rfc.subtrees).toHaveLength(15);
    for (const s of rfc.subtrees) expect(hx(rootOf(leafHashes.slice(s.start, s.end))), `[${s.start},${s.end})`).toBe(s.hash);
  });

  it('primitive hash vectors (empty, leaf, node, base64 record hash)', () => {
    expect(rfc.hashVectors).toHaveLength(7);
    for (const v of rfc.hashVectors) {
      const got = v.op === 'empty' ? emptyRoot() : v.op === 'leaf' ? leafHash(h(v.input)) : nodeHash(h(v.left), h(v.right));
      if (v.expected) expect(hx(got), v.desc).toBe(v.expected);
      else expect(Buffer.from(got).toString('base64'), v.desc).toBe(v.expectedBase64);
    }
  });
});

describe('RFC 6962 proofs', () => {
  it('published inclusion proofs: ours are identical and verify', () => {
    expect(rfc.inclusion).toHaveLength(7);
    for (const v of rfc.inclusion) {
      expect(inclusionProof(leafHashes, v.index, v.size).map(hx), `${v.index}/${v.size}`).toEqual(v.proof);
      verifyInclusion(h(v.leafHash), v.index, v.size, v.proof.map(h), h(v.root));
    }
  });

  it('published consistency proofs: ours are identical and verify', () => {
    expect(rfc.consistency).toHaveLength(5);
    for (const v of rfc.consistency) {
      expect(consistencyProof(leafHashes, v.size1, v.size2).map(hx), `${v.size1}→${v.size2}`).toEqual(v.proof);
      verifyConsistency(v.size1, v.size2, v.proof.map(h), h(v.root1), h(v.root2));
    }
  });

  it('derived proofs for every pair of sizes 1..8: ours are identical and verify', () => {
    expect(rfc.derived.inclusion).toHaveLength(36);
    expect(rfc.derived.consistency).toHaveLength(36);
    for (const v of rfc.derived.inclusion) {
      expect(inclusionProof(leafHashes, v.index, v.size).map(hx)).toEqual(v.proof);
      verifyInclusion(h(v.leafHash), v.index, v.size, v.proof.map(h), h(v.root));
    }
    for (const v of rfc.derived.consistency) {
      expect(consistencyProof(leafHashes, v.size1, v.size2).map(hx)).toEqual(v.proof);
      verifyConsistency(v.size1, v.size2, v.proof.map(h), h(v.root1), h(v.root2));
    }
  });

  it('the real Certificate Transparency inclusion proof (leaf 848049 of 3630887) verifies, and not at another index', () => {
    const v = rfc.realWorldInclusion[0];
    const lh = leafHash(h(v.leafInput));
    expect(hx(lh)).toBe(v.leafHash);
    expect(v.proof).toHaveLength(22);
    verifyInclusion(lh, v.index, v.size, v.proof.map(h), h(v.root));
    expect(codeOf(() => verifyInclusion(lh, v.index + 1, v.size, v.proof.map(h), h(v.root)))).toBe('TLOG_BAD_PROOF');
  });

  it('all inclusion probes are accepted or rejected as published', () => {
    expect(rfc.probes.inclusion).toHaveLength(98);
    let accepted = 0;
    for (const p of rfc.probes.inclusion) {
      const got = codeOf(() => verifyInclusion(h(p.leafHash), num(p.index), num(p.size), p.proof.map(h), h(p.root)));
      expect(got === 'ok', `${p.file}: ${got}`).toBe(p.expectValid);
      if (got === 'ok') accepted++;
    }
    expect(accepted).toBe(6);
  });

  it('all consistency probes are accepted or rejected as published', () => {
    expect(rfc.probes.consistency).toHaveLength(98);
    let accepted = 0;
    for (const p of rfc.probes.consistency) {
      const got = codeOf(() => verifyConsistency(num(p.size1), num(p.size2), p.proof.map(h), h(p.root1), h(p.root2)));
      expect(got === 'ok', `${p.file}: ${got}`).toBe(p.expectValid);
      if (got === 'ok') accepted++;
    }
    expect(accepted).toBe(6);
  });

  it('edge rules refuse with their own codes', () => {
    const r = rootOf(leafHashes, 4);
    expect(codeOf(() => verifyInclusion(leafHashes[0], 4, 4, [], r))).toBe('TLOG_BAD_INDEX');
    expect(codeOf(() => verifyInclusion(leafHashes[0], 2n ** 64n - 1n, 2n ** 64n - 1n, [], r))).toBe('TLOG_BAD_INDEX');
    expect(codeOf(() => verifyInclusion(leafHashes[0].subarray(1), 0, 4, inclusionProof(leafHashes, 0, 4), r))).toBe('TLOG_BAD_HASH');
    expect(codeOf(() => verifyInclusion(leafHashes[0], 0, 4, inclusionProof(leafHashes, 0, 4).slice(1), r))).toBe('TLOG_BAD_PROOF');
    expect(codeOf(() => verifyConsistency(4, 3, [], r, rootOf(leafHashes, 3)))).toBe('TLOG_BAD_INDEX');
    expect(codeOf(() => verifyConsistency(0, 4, [], emptyRoot(), r))).toBe('TLOG_BAD_INDEX');
    expect(codeOf(() => verifyConsistency(4, 4, [r], r, r))).toBe('TLOG_BAD_PROOF');
    expect(codeOf(() => verifyConsistency(4, 4, [], r, rootOf(leafHashes, 3)))).toBe('TLOG_BAD_PROOF');
    expect(codeOf(() => inclusionProof(leafHashes, 8, 8))).toBe('TLOG_BAD_INDEX');
    expect(codeOf(() => consistencyProof(leafHashes, 0, 8))).toBe('TLOG_BAD_INDEX');
    expect(codeOf(() => consistencyProof(leafHashes, 3, 9))).toBe('TLOG_BAD_INDEX');
  });
});

/** Each invalid note vector's refusal: malformed framing, bad key, bad signature by a trusted key, or no trusted signature. */
const NOTE_REFUSALS: Record<string, TlogErrorCode> = {
  'go-invalid-signature-ABCD': 'TLOG_NOTE_BAD_SIGNATURE',
  'go-malformed-no-signatures': 'TLOG_NOTE_MALFORMED',
  'go-malformed-bad-name': 'TLOG_NOTE_MALFORMED',
  'go-malformed-unexpected-line': 'TLOG_NOTE_MALFORMED',
  'go-malformed-control-char': 'TLOG_NOTE_MALFORMED',
  'go-unknown-name-CarmenSandiego': 'TLOG_NOTE_UNVERIFIED',
  'go-unknown-keyid-xxxx': 'TLOG_NOTE_UNVERIFIED',
  'go-vkey-unknown-algorithm': 'TLOG_NOTE_BAD_KEY',
  'go-vkey-wrong-length': 'TLOG_NOTE_BAD_KEY',
  'mut-text-one-byte': 'TLOG_NOTE_BAD_SIGNATURE',
  'mut-checkpoint-extension-added': 'TLOG_NOTE_BAD_SIGNATURE',
  'mut-vkey-wrong-name': 'TLOG_NOTE_BAD_KEY',
  'mut-vkey-wrong-keyid': 'TLOG_NOTE_BAD_KEY',
  'mut-sig-wrong-keyid': 'TLOG_NOTE_UNVERIFIED',
  'mut-sig-truncated': 'TLOG_NOTE_BAD_SIGNATURE',
  'mut-sigline-name-with-space': 'TLOG_NOTE_MALFORMED',
  'mut-hyphen-instead-of-em-dash': 'TLOG_NOTE_MALFORMED',
  'mut-missing-blank-line': 'TLOG_NOTE_MALFORMED',
};

describe('C2SP signed notes', () => {
  it('every note vector opens or is refused as published, each refusal with its own code', () => {
    expect(notes).toHaveLength(27);
    for (const v of notes) {
      // `message` is authoritative; check it is what the parts say when they are assembled
      if (v.assembled !== false) expect(v.message).toBe(v.text + '\n' + v.signatures.map((s: string) => s + '\n').join(''));
      const open = () => openNote(Buffer.from(v.message, 'utf8'), [parseVerifierKey(v.verifierKey)]);
      if (v.valid) {
        const opened = open();
        expect(opened.text, v.id).toBe(v.text);
        expect(
          opened.verified.map((s) => `${s.name}+${s.keyHash}`),
          v.id,
        ).toEqual([v.verifierKey.split('+').slice(0, 2).join('+')]);
        // the string form opens the same way
        expect(openNote(v.message, [parseVerifierKey(v.verifierKey)]).text).toBe(v.text);
      } else {
        expect(codeOf(open), v.id).toBe(NOTE_REFUSALS[v.id]);
      }
    }
    expect(Object.keys(NOTE_REFUSALS).sort()).toEqual(
      notes
        .filter((v: { valid: boolean }) => !v.valid)
        .map((v: { id: string }) => v.id)
        .sort(),
    );
  });

  it('signing the quote with the published test key reproduces the published signature byte for byte', () => {
    const v = notes.find((n: { id: string }) => n.id === 'go-peter');
    const signer = parseSignerKey(v.signerKey);
    expect(signer.verifierKey).toBe(v.verifierKey);
    expect(signNote(v.text, [signer])).toBe(v.message);
  });

  it('valid checkpoint notes carry the checkpoint they claim', () => {
    for (const v of notes.filter((n: { valid: boolean; checkpoint?: unknown }) => n.valid && n.checkpoint)) {
      const c = parseCheckpoint(openNote(v.message, [parseVerifierKey(v.verifierKey)]).text);
      expect({ origin: c.origin, size: c.size, rootHex: hx(c.root) }, v.id).toEqual(v.checkpoint);
    }
  });

  it('a note is refused when the trusted key is another key with the same name', () => {
    const v = notes.find((n: { id: string }) => n.id === 'go-peter');
    const other = parseVerifierKey('EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop');
    expect(codeOf(() => openNote(v.message, [other]))).toBe('TLOG_NOTE_UNVERIFIED');
    expect(codeOf(() => openNote(v.message, []))).toBe('TLOG_NOTE_UNVERIFIED');
    expect(codeOf(() => openNote(new Uint8Array([0xff, 0x0a, 0x0a]), [other]))).toBe('TLOG_NOTE_MALFORMED');
  });
});

describe('C2SP tlog-checkpoint bodies', () => {
  it('every body parses to what it says or is refused', () => {
    expect(checkpoints.bodies).toHaveLength(23);
    for (const v of checkpoints.bodies) {
      if (v.valid) {
        const c = parseCheckpoint(v.body);
        expect({ origin: c.origin, size: c.size, rootHex: hx(c.root), extensions: c.extensions }, v.id).toEqual({
          origin: v.expect.origin,
          size: v.expect.size,
          rootHex: v.expect.rootHex,
          extensions: v.expect.extensions ?? [],
        });
        expect(formatCheckpoint(c), v.id).toBe(v.body);
      } else {
        expect(
          codeOf(() => parseCheckpoint(v.body)),
          v.id,
        ).toBe('TLOG_CHECKPOINT_MALFORMED');
      }
    }
  });
});
