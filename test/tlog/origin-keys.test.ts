/**
 * Trusted log keys bound to origins (tlog/origin-keys.ts), and the attack they stop: a
 * checkpoint signed by a key trusted for origin A, served as the log of a repository under
 * origin B, is TLOG_KEY_NOT_FOR_ORIGIN — through verifyCheckpointNote, which every reader of
 * a log (the controller's witness, `gantry log`, `lock`, `par pull --via`, `par mirror`) uses.
 */
import { describe, expect, it } from 'vitest';
import {
  bindToOrigins,
  checkSignersForOrigin,
  coversOrigin,
  formatCheckpoint,
  generateNoteKey,
  parseSignerKey,
  parseTrustedLogKey,
  parseVerifierKey,
  signNote,
  verifyCheckpointNote,
} from '../../tlog/index.js';
import { codeOf, refusalOf } from './code-of.js';

const teamA = generateNoteKey('team-a-log');
const teamB = generateNoteKey('registry.example.com/team-b');
const ORIGIN_A = 'registry.example.com/team-a/payments';
const ORIGIN_B = 'registry.example.com/team-b/payments';

function checkpointOf(origin: string, ...signers: string[]): string {
  const text = formatCheckpoint({ origin, size: 1, root: new Uint8Array(32), extensions: [] });
  return signNote(text, signers.map(parseSignerKey));
}

describe('coversOrigin', () => {
  it('covers the origin itself and what lies under it at a slash, never a longer name', () => {
    expect(coversOrigin('registry.example.com/team/', 'registry.example.com/team/payments')).toBe(true);
    expect(coversOrigin('registry.example.com/team', 'registry.example.com/team/payments')).toBe(true);
    expect(coversOrigin('registry.example.com/team', 'registry.example.com/team')).toBe(true);
    expect(coversOrigin('registry.example.com', 'registry.example.com/team/payments')).toBe(true);
    expect(coversOrigin('registry.example.com/team', 'registry.example.com/teamevil/x')).toBe(false);
    expect(coversOrigin('registry.example.com/team/', 'registry.example.com/team')).toBe(false);
    expect(coversOrigin('registry.example.com', 'registry.example.com:5000/team')).toBe(false);
    expect(coversOrigin('registry.example.com/team/payments', 'registry.example.com/team')).toBe(false);
    expect(coversOrigin('other.example/team', 'registry.example.com/team/x')).toBe(false);
  });
});

describe('parseTrustedLogKey', () => {
  it('binds <origin-prefix>=<vkey> to the prefix', () => {
    const k = parseTrustedLogKey(`registry.example.com/team-a/=${teamA.verifierKey}`);
    expect(k.origins).toEqual(['registry.example.com/team-a/']);
    expect(k.name).toBe('team-a-log');
    expect(k.verifierKey).toBe(teamA.verifierKey);
  });

  it('binds a bare key to the origin its key name names', () => {
    expect(parseTrustedLogKey(teamB.verifierKey).origins).toEqual(['registry.example.com/team-b']);
    expect(parseTrustedLogKey(teamA.verifierKey).origins).toEqual(['team-a-log']);
  });

  it('reads a key whose name holds "=" as bare, not as a prefix', () => {
    const odd = generateNoteKey('a=b');
    expect(parseTrustedLogKey(odd.verifierKey).origins).toEqual(['a=b']);
  });

  it('refuses a bad prefix or a bad key with TLOG_NOTE_BAD_KEY, saying which', () => {
    const empty = refusalOf(() => parseTrustedLogKey(`=${teamA.verifierKey}`));
    expect(empty.code).toBe('TLOG_NOTE_BAD_KEY');
    expect(empty.message).toMatch(/origin prefix "" must be HOST\[\/PATH\]/);
    expect(refusalOf(() => parseTrustedLogKey(`/abs/=${teamA.verifierKey}`)).message).toMatch(/origin prefix "\/abs\/"/);
    expect(refusalOf(() => parseTrustedLogKey(`a b=${teamA.verifierKey}`)).message).toMatch(/origin prefix "a b"/);
    expect(codeOf(() => parseTrustedLogKey('registry.example.com/=not-a-key'))).toBe('TLOG_NOTE_BAD_KEY');
    expect(refusalOf(() => parseTrustedLogKey('not-a-key')).message).toMatch(/verifier key "not-a-key"/);
  });
});

describe('a checkpoint and the origins of the keys that signed it', () => {
  const boundA = parseTrustedLogKey(`registry.example.com/team-a/=${teamA.verifierKey}`);
  const boundB = parseTrustedLogKey(teamB.verifierKey);

  it('is accepted when its signer is bound to its origin', () => {
    const v = verifyCheckpointNote(checkpointOf(ORIGIN_A, teamA.signerKey), [boundA, boundB], ORIGIN_A);
    expect(v.checkpoint.origin).toBe(ORIGIN_A);
    expect(verifyCheckpointNote(checkpointOf(ORIGIN_B, teamB.signerKey), [boundA, boundB], ORIGIN_B).signedBy).toHaveLength(1);
  });

  it("attack: origin A's trusted key signing the log of a repository under B is TLOG_KEY_NOT_FOR_ORIGIN, naming the key and its origins", () => {
    const r = refusalOf(() => verifyCheckpointNote(checkpointOf(ORIGIN_B, teamA.signerKey), [boundA, boundB], ORIGIN_B));
    expect(r.code).toBe('TLOG_KEY_NOT_FOR_ORIGIN');
    expect(r.message).toBe(
      `the checkpoint for "${ORIGIN_B}" is signed only by trusted keys bound to other origins: team-a-log+${boundA.keyHash} (registry.example.com/team-a/); trust a key for this origin with <origin-prefix>=<vkey>`,
    );
  });

  it('a bare key named otherwise than the origin signs for nothing', () => {
    expect(
      codeOf(() => verifyCheckpointNote(checkpointOf(ORIGIN_A, teamA.signerKey), [parseTrustedLogKey(teamA.verifierKey)], ORIGIN_A)),
    ).toBe('TLOG_KEY_NOT_FOR_ORIGIN');
  });

  it('one signature by a key bound to the origin is enough beside others', () => {
    const both = checkpointOf(ORIGIN_B, teamA.signerKey, teamB.signerKey);
    expect(verifyCheckpointNote(both, [boundA, boundB], ORIGIN_B).signedBy).toHaveLength(2);
  });

  it('the refusal names every signer with all its origins', () => {
    const wide = parseTrustedLogKey(`registry.example.com/team-a/=${teamA.verifierKey}`);
    const both = [
      { ...wide, origins: ['registry.example.com/team-a/', 'registry.example.com/team-c/'] },
      parseTrustedLogKey(`x.example=${teamB.verifierKey}`),
    ];
    const r = refusalOf(() => verifyCheckpointNote(checkpointOf(ORIGIN_B, teamA.signerKey, teamB.signerKey), both, ORIGIN_B));
    expect(r.message).toContain(
      `team-a-log+${wide.keyHash} (registry.example.com/team-a/, registry.example.com/team-c/); registry.example.com/team-b+${boundB.keyHash} (x.example)`,
    );
  });

  it('a key given twice, once for each origin, covers both', () => {
    const twice = [boundA, parseTrustedLogKey(`${ORIGIN_B}=${teamA.verifierKey}`)];
    expect(verifyCheckpointNote(checkpointOf(ORIGIN_B, teamA.signerKey), twice, ORIGIN_B).checkpoint.origin).toBe(ORIGIN_B);
  });

  it('a key with no origins was chosen by its caller for this log and counts as bound to it', () => {
    const plain = parseVerifierKey(teamA.verifierKey);
    expect(plain.origins).toBeUndefined();
    expect(verifyCheckpointNote(checkpointOf(ORIGIN_B, teamA.signerKey), [plain], ORIGIN_B).checkpoint.size).toBe(1);
  });

  it('checkSignersForOrigin looks only at the keys that signed, matched by name and key hash', () => {
    const a = parseVerifierKey(teamA.verifierKey);
    const sig = { name: a.name, keyHash: a.keyHash, base64: '' };
    // a trusted key that did not sign does not lend its origins
    expect(codeOf(() => checkSignersForOrigin([sig], [bindToOrigins(a, ['x.example']), boundB], ORIGIN_B))).toBe('TLOG_KEY_NOT_FOR_ORIGIN');
    // same name, other key hash: not the signer
    expect(codeOf(() => checkSignersForOrigin([{ ...sig, keyHash: '00000000' }], [bindToOrigins(a, [ORIGIN_B])], ORIGIN_B))).toBe(
      'TLOG_KEY_NOT_FOR_ORIGIN',
    );
    expect(codeOf(() => checkSignersForOrigin([{ ...sig, name: 'other' }], [bindToOrigins(a, [ORIGIN_B])], ORIGIN_B))).toBe(
      'TLOG_KEY_NOT_FOR_ORIGIN',
    );
    expect(codeOf(() => checkSignersForOrigin([sig], [bindToOrigins(a, ['x.example', ORIGIN_B])], ORIGIN_B))).toBe('ok');
    expect(codeOf(() => checkSignersForOrigin([sig], [bindToOrigins(a, [])], ORIGIN_B))).toBe('TLOG_KEY_NOT_FOR_ORIGIN');
    expect(bindToOrigins(a, ['x']).verify).toBe(a.verify);
  });
});
