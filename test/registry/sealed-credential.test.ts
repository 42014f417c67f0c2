// A pull credential sealed to one node's key: opens there, and nowhere else, each refusal
// with its own code (registry/sealed-credential.ts).
import { createCurve, createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { annotations } from '../../api/common.js';
import { openSealed, SealError, sealKeyOfLease, sealTo } from '../../registry/sealed-credential.js';

const config = '{"auths":{"reg.example:5000":{"auth":"cm9ib3Q6czNjcmV0"}}}';

function refusal(f: () => unknown): SealError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SealError);
    return e as SealError;
  }
  throw new Error('expected a SealError');
}

describe('sealed pull credentials', () => {
  const nodeA = createCurve();
  const nodeB = createCurve();

  it('opens with the key of the node it was sealed to, and holds no clear text', () => {
    const env = sealTo('node-a', nodeA.getPublicKey(), config);
    expect(env).not.toContain('s3cret');
    expect(env).not.toContain('cm9ib3Q6czNjcmV0');
    expect(JSON.parse(env)).toMatchObject({ v: 1, node: 'node-a', recipient: nodeA.getPublicKey() });
    expect(openSealed(nodeA, env)).toBe(config);
  });

  it('says what is sealed in its messages: a pull credential unless told otherwise', () => {
    expect(refusal(() => sealTo('node-a', undefined, config)).message).toMatch(/; the pull credential waits for it$/);
    expect(refusal(() => sealTo('node-a', undefined, config, 'secret config')).message).toMatch(/; the secret config waits for it$/);
    const env = sealTo('node-a', nodeA.getPublicKey(), config);
    expect(refusal(() => openSealed(nodeB, env, 'secret config')).message).toMatch(/^the secret config is sealed to node node-a's key/);
  });

  it('seals with a fresh sender key each time (no two envelopes alike)', () => {
    const a = JSON.parse(sealTo('node-a', nodeA.getPublicKey(), config));
    const b = JSON.parse(sealTo('node-a', nodeA.getPublicKey(), config));
    expect(a.sender).not.toBe(b.sender);
    expect(a.box).not.toBe(b.box);
  });

  it("another node's key is refused as SEALED_FOR_ANOTHER_KEY, naming both keys", () => {
    const e = refusal(() => openSealed(nodeB, sealTo('node-a', nodeA.getPublicKey(), config)));
    expect(e.code).toBe('SEALED_FOR_ANOTHER_KEY');
    expect(e.message).toContain(nodeA.getPublicKey());
    expect(e.message).toContain(nodeB.getPublicKey());
    expect(e.message).toContain('node-a');
  });

  it("relabelling the envelope with the reader's own key does not open it: SEALED_UNOPENABLE", () => {
    const env = JSON.parse(sealTo('node-a', nodeA.getPublicKey(), config));
    const e = refusal(() => openSealed(nodeB, JSON.stringify({ ...env, recipient: nodeB.getPublicKey() })));
    expect(e.code).toBe('SEALED_UNOPENABLE');
    expect(e.message).toBe(`the pull credential sealed to ${nodeB.getPublicKey()} does not open with this node's key`);
  });

  it('a tampered box, or a sender that is not a curve key, is SEALED_UNOPENABLE', () => {
    const env = JSON.parse(sealTo('node-a', nodeA.getPublicKey(), config));
    const box = Buffer.from(env.box, 'base64');
    box[box.length - 1] ^= 1;
    expect(refusal(() => openSealed(nodeA, JSON.stringify({ ...env, box: box.toString('base64') }))).code).toBe('SEALED_UNOPENABLE');
    expect(refusal(() => openSealed(nodeA, JSON.stringify({ ...env, sender: createCurve().getPublicKey() }))).code).toBe(
      'SEALED_UNOPENABLE',
    );
    expect(refusal(() => openSealed(nodeA, JSON.stringify({ ...env, sender: 'Xnot-a-key' }))).code).toBe('SEALED_UNOPENABLE');
  });

  it('what is not an envelope is SEALED_MALFORMED, saying what is wrong', () => {
    const env = JSON.parse(sealTo('node-a', nodeA.getPublicKey(), config));
    expect(refusal(() => openSealed(nodeA, '{"auths":{}}')).message).toContain('has no node');
    const notJson = refusal(() => openSealed(nodeA, 'not json'));
    expect(notJson.code).toBe('SEALED_MALFORMED');
    expect(notJson.message).toContain('is not JSON');
    expect(notJson.name).toBe('SealError');
    expect(refusal(() => openSealed(nodeA, 'null')).code).toBe('SEALED_MALFORMED');
    for (const f of ['node', 'recipient', 'sender', 'box']) {
      const e = refusal(() => openSealed(nodeA, JSON.stringify({ ...env, [f]: 7 })));
      expect(e.code).toBe('SEALED_MALFORMED');
      expect(e.message).toContain(`has no ${f}`);
    }
    const v2 = refusal(() => openSealed(nodeA, JSON.stringify({ ...env, v: 2 })));
    expect(v2.code).toBe('SEALED_MALFORMED');
    expect(v2.message).toContain('version 2');
  });

  it('no seal key yet: SEAL_KEY_MISSING names the node and the Lease annotation', () => {
    for (const k of [undefined, '']) {
      const e = refusal(() => sealTo('node-c', k, config));
      expect(e.code).toBe('SEAL_KEY_MISSING');
      expect(e.message).toContain('node-c');
      expect(e.message).toContain(annotations.nodeSealKey);
    }
  });

  it('a published key that is not a curve public key is SEAL_KEY_INVALID', () => {
    expect(refusal(() => sealTo('node-c', createUser().getPublicKey(), config)).code).toBe('SEAL_KEY_INVALID');
    const bad = refusal(() => sealTo('node-c', 'XAAAA', config));
    expect(bad.code).toBe('SEAL_KEY_INVALID');
    expect(bad.message).toContain("node node-c's seal key XAAAA is not a curve public key");
  });

  it("reads the key from the Lease's annotation, and nothing from a Lease without one", () => {
    const key = nodeA.getPublicKey();
    expect(sealKeyOfLease({ metadata: { annotations: { [annotations.nodeSealKey]: key } } })).toBe(key);
    expect(sealKeyOfLease({ metadata: { annotations: { [annotations.nodeSealKey]: '' } } })).toBeUndefined();
    expect(sealKeyOfLease({ metadata: { annotations: { [annotations.agentTarget]: key } } })).toBeUndefined();
    expect(sealKeyOfLease({ metadata: {} })).toBeUndefined();
    expect(sealKeyOfLease({})).toBeUndefined();
    expect(sealKeyOfLease(undefined)).toBeUndefined();
  });
});
