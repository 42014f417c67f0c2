// The node's seal key (agent/seal-key.ts): made once on the node (0600), the same key on every
// start, and refused — not used — when others may read it or it is not a curve seed.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCurve, createUser } from '@nats-io/nkeys';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeSealKey, SealKeyError } from '../../agent/seal-key.js';
import { openSealed, sealTo } from '../../registry/sealed-credential.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-seal-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the node's seal key", () => {
  it('is made on first start (0600, in a 0700 directory), kept, and opens what was sealed to its public key', () => {
    const file = join(dir, 'var', 'cache', 'seal.xk'); // two directories to make
    const first = nodeSealKey(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'var', 'cache')).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toMatch(/^SX[A-Z2-7]+\n$/);
    const again = nodeSealKey(file);
    expect(again.getPublicKey()).toBe(first.getPublicKey());
    expect(openSealed(again, sealTo('n', first.getPublicKey(), 'hello'))).toBe('hello');
  });

  it('a seed file others may read is refused (SEAL_KEY_UNUSABLE), naming the mode', () => {
    const file = join(dir, 'loose.xk');
    writeFileSync(file, new TextDecoder().decode(createCurve().getSeed()));
    chmodSync(file, 0o640);
    const e = (() => {
      try {
        nodeSealKey(file);
      } catch (err) {
        return err as SealKeyError;
      }
    })();
    expect(e).toBeInstanceOf(SealKeyError);
    expect(e?.code).toBe('SEAL_KEY_UNUSABLE');
    expect(e?.name).toBe('SealKeyError');
    expect(e?.message).toContain('mode 640');
    chmodSync(file, 0o604);
    expect(() => nodeSealKey(file)).toThrow(/readable by others \(mode 604\)/);
  });

  it('a file that is not a curve seed is refused, and left as it is', () => {
    const file = join(dir, 'user.xk');
    const seed = new TextDecoder().decode(createUser().getSeed());
    writeFileSync(file, seed, { mode: 0o600 });
    expect(() => nodeSealKey(file)).toThrow(/is not an xkey seed \(SX…\)/);
    expect(readFileSync(file, 'utf8')).toBe(seed);
  });

  it('an unreadable path is refused with its own message, never replaced by a new key', () => {
    expect(() => nodeSealKey(dir)).toThrow(/cannot read the seal key/);
  });
});
