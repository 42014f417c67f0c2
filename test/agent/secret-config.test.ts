/**
 * The agent's reader of an instance's secret config (agent/secret-config.ts), against the API
 * server (the agent's own identity on the real one: `get` Secrets in gantry-nodes only), with
 * Secrets written by the controller's own writer (controller/credentials/config.ts) and then
 * attacked: each refusal fails closed with its own reason, and no refusal quotes a value.
 */
import { createCurve } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceFailure } from '../../agent/failure.js';
import { instanceSecretConfig, redactSecrets } from '../../agent/secret-config.js';
import { instanceConfigSecretName, type ProviderInstance } from '../../api/index.js';
import { InstanceSecretConfig, instanceConfigSecret } from '../../controller/credentials/config.js';
import { sealTo } from '../../registry/sealed-credential.js';
import { isAlreadyExists, KubeClient } from '../../runtime/kube.js';
import { logger } from '../../runtime/log.js';
import { apiGround, startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const CREDS = 'gantry-nodes';
const CANARY = 'canary-pw-b41e07';
const nodeA = createCurve();
const nodeB = createCurve();

let api: TestApiServer;
let admin: KubeClient;
let asAgent: KubeClient;
let writer: InstanceSecretConfig;
let n = 0;

function instance(o: { keys?: string[]; config?: Record<string, unknown>; node?: string } = {}): ProviderInstance {
  n++;
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name: `db-${n}`, namespace: 'apps', uid: `uid-${n}` },
    spec: {
      provider: 'db',
      nodeName: o.node ?? 'node-a',
      archive: { ref: 'reg.example:5000/db', digest: `sha256:${'b'.repeat(64)}`, revision: 1 },
      target: 'x86_64-linux',
      ...(o.config ? { config: o.config } : {}),
      secretConfig: { keys: o.keys ?? ['password'], sources: [{ name: 'db', resourceVersion: '7' }] },
    },
  };
}

const secretPath = (inst: ProviderInstance) =>
  `/api/v1/namespaces/${CREDS}/secrets/${instanceConfigSecretName('apps', inst.metadata.name)}`;

/** The reader on node A (or `key`'s node); the InstanceFailure it throws, or the values. */
async function read(inst: ProviderInstance, key = nodeA, kube = asAgent): Promise<Record<string, string> | InstanceFailure | undefined> {
  try {
    return await instanceSecretConfig(kube, CREDS, key, inst);
  } catch (err) {
    expect(err).toBeInstanceOf(InstanceFailure);
    return err as InstanceFailure;
  }
}

async function refusal(inst: ProviderInstance, key = nodeA): Promise<InstanceFailure> {
  const r = await read(inst, key);
  expect(r).toBeInstanceOf(InstanceFailure);
  const f = r as InstanceFailure;
  expect(f.message).not.toContain(CANARY);
  return f;
}

/** Replace the Secret's envelope with `envelope` (an attacker who can write it, or a broken controller). */
async function rewriteEnvelope(inst: ProviderInstance, envelope: string): Promise<void> {
  const s = await admin.get<any>(secretPath(inst));
  await admin.replace(secretPath(inst), { ...s, data: { sealed: Buffer.from(envelope).toString('base64') } });
}

beforeAll(async () => {
  api = await startTestApiServer();
  admin = new KubeClient(api.kc);
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CREDS } }).catch((err) => {
    if (!isAlreadyExists(err)) throw err;
  });
  asAgent = new KubeClient((await api.identity('agent')).kc);
  const keys: Record<string, string> = { 'node-a': nodeA.getPublicKey(), 'node-b': nodeB.getPublicKey() };
  writer = new InstanceSecretConfig(admin, CREDS, logger('test-controller'), (node) => keys[node]);
}, 120_000);

afterAll(async () => {
  writer?.stop();
  asAgent?.close();
  admin?.close();
  await api?.stop();
});

describe("an instance's secret config, read by its agent", () => {
  it('opens to exactly the values the controller sealed to this node', async () => {
    const inst = instance({ keys: ['password', 'user'] });
    await writer.ensure(inst, { password: CANARY, user: 'app' });
    expect(await read(inst)).toEqual({ password: CANARY, user: 'app' });
  });

  it('an instance without secretConfig reads nothing from the API server', async () => {
    const inst = instance();
    delete inst.spec.secretConfig;
    const noApi = new Proxy({}, { get: () => expect.unreachable('read the API server') }) as KubeClient;
    expect(await read(inst, nodeA, noApi)).toBeUndefined();
  });

  it('a key both in spec.config and secret: ConfigConflict, final, before anything is read', async () => {
    const inst = instance({ keys: ['password', 'user', 'host'], config: { user: 'plain', port: 5432, host: 'db' } });
    const noApi = new Proxy({}, { get: () => expect.unreachable('read the API server') }) as KubeClient;
    const f = (await read(inst, nodeA, noApi)) as InstanceFailure;
    expect(f.reason).toBe('ConfigConflict');
    expect(f.retryable).toBe(false);
    expect(f.message).toBe('config keys user, host are both in spec.config and secret (spec.secretConfig.keys)');
  });

  it('no Secret yet: ConfigPending (retried), naming the Secret', async () => {
    const inst = instance();
    const f = await refusal(inst);
    expect([f.reason, f.retryable]).toEqual(['ConfigPending', true]);
    expect(f.message).toBe(
      `waiting for the controller to write this instance's secret config (Secret ${CREDS}/${instanceConfigSecretName('apps', inst.metadata.name)})`,
    );
  });

  it('attack: a Secret written for another uid (an earlier instance of that name) is not used: ConfigPending', async () => {
    const inst = instance();
    await writer.ensure({ ...inst, metadata: { ...inst.metadata, uid: 'an-earlier-uid' } }, { password: CANARY });
    const f = await refusal(inst);
    expect([f.reason, f.retryable]).toEqual(['ConfigPending', true]);
    expect(f.message).toContain(`is not (yet) for this instance (uid ${inst.metadata.uid})`);
  });

  it("waiting for this node's seal key, or holding no envelope: ConfigPending, saying so", async () => {
    const inst = instance({ node: 'node-without-key' });
    await writer.ensure(inst, { password: CANARY });
    const f = await refusal(inst);
    expect([f.reason, f.retryable]).toEqual(['ConfigPending', true]);
    expect(f.message).toMatch(/SEAL_KEY_MISSING: node node-without-key's agent has not published its seal key/);
    const s = await admin.get<any>(secretPath(inst));
    await admin.replace(secretPath(inst), { ...s, metadata: { ...s.metadata, annotations: {} } });
    const g = await refusal(inst);
    expect([g.reason, g.retryable]).toEqual(['ConfigPending', true]);
    expect(g.message).toContain('holds no secret config sealed to this node');
  });

  it('an API server it cannot reach: ConfigPending (retried), saying so', async () => {
    const gone = await startTestApiServer({ ground: 'emulated' });
    const kube = new KubeClient(gone.kc);
    await gone.stop();
    try {
      const f = (await read(instance(), nodeA, kube)) as InstanceFailure;
      expect([f.reason, f.retryable]).toEqual(['ConfigPending', true]);
      expect(f.message).toMatch(/^cannot read Secret gantry-nodes\/gantry-config-[0-9a-f]{20}: /);
    } finally {
      kube.close();
    }
  });

  it('a Secret with no annotations (none waiting) and an instance in the default namespace: opened', async () => {
    const inst = instance();
    delete inst.metadata.namespace;
    const s = instanceConfigSecret(
      CREDS,
      inst,
      { password: CANARY },
      { node: 'node-a', key: nodeA.getPublicKey(), digestKey: Buffer.alloc(32) },
    );
    await admin.create(`/api/v1/namespaces/${CREDS}/secrets`, { ...s, metadata: { ...s.metadata, annotations: undefined } });
    expect(s.metadata.name).toBe(instanceConfigSecretName('default', inst.metadata.name));
    expect(await read(inst)).toEqual({ password: CANARY });
  });

  it('a Secret with no labels at all is not for this instance: ConfigPending', async () => {
    const inst = instance();
    await writer.ensure(inst, { password: CANARY });
    const s = await admin.get<any>(secretPath(inst));
    await admin.replace(secretPath(inst), { ...s, metadata: { ...s.metadata, labels: undefined } });
    const f = await refusal(inst);
    expect(f.reason).toBe('ConfigPending');
    expect(f.message).toContain('is not (yet) for this instance');
  });

  it("attack: node B's agent reading node A's config Secret gets ConfigSealedForAnotherNode, and no value", async () => {
    const inst = instance({ node: 'node-a' });
    await writer.ensure(inst, { password: CANARY });
    const f = await refusal(inst, nodeB);
    expect([f.reason, f.retryable]).toEqual(['ConfigSealedForAnotherNode', true]);
    expect(f.message).toContain(`the secret config is sealed to node node-a's key ${nodeA.getPublicKey()}`);
    expect(f.message).toContain(`not to this node's ${nodeB.getPublicKey()}`);
  });

  it('attack: a tampered envelope is ConfigUnopenable (final) — relabelled to this key, a flipped box, or no envelope at all', async () => {
    const inst = instance();
    await writer.ensure(inst, { password: CANARY });
    const good = JSON.parse(Buffer.from((await admin.get<any>(secretPath(inst))).data.sealed, 'base64').toString());
    // sealed to node B, relabelled as node A's: names this key but does not open
    const forB = JSON.parse(sealTo('node-b', nodeB.getPublicKey(), JSON.stringify({ password: CANARY })));
    await rewriteEnvelope(inst, JSON.stringify({ ...forB, recipient: nodeA.getPublicKey() }));
    let f = await refusal(inst);
    expect([f.reason, f.retryable]).toEqual(['ConfigUnopenable', false]);
    expect(f.message).toContain('SEALED_UNOPENABLE: the secret config sealed to');
    const box = Buffer.from(good.box, 'base64');
    box[box.length - 1] = (box[box.length - 1] ?? 0) ^ 1;
    await rewriteEnvelope(inst, JSON.stringify({ ...good, box: box.toString('base64') }));
    f = await refusal(inst);
    expect(f.reason).toBe('ConfigUnopenable');
    await rewriteEnvelope(inst, 'not an envelope');
    f = await refusal(inst);
    expect(f.reason).toBe('ConfigUnopenable');
    expect(f.message).toContain('SEALED_MALFORMED: the sealed secret config is not JSON');
  });

  it('an envelope that opens to anything but a JSON object of strings is ConfigUnopenable, quoting none of it', async () => {
    const inst = instance();
    await writer.ensure(inst, { password: CANARY });
    for (const clear of [`["${CANARY}"]`, `{"password": {"v": "${CANARY}"}}`, `"${CANARY}"`, 'null', `${CANARY}{`]) {
      await rewriteEnvelope(inst, sealTo('node-a', nodeA.getPublicKey(), clear, 'secret config'));
      const f = await refusal(inst);
      expect([f.reason, f.retryable, clear]).toEqual(['ConfigUnopenable', false, clear]);
      expect(f.message).toContain('opens, but not to a JSON object of string values');
    }
  });

  it('attack: a Secret whose keys differ from spec.secretConfig.keys is ConfigIncomplete, naming the missing and the extra keys', async () => {
    const cases: Array<[string[], Record<string, string>, string]> = [
      [['password', 'user'], { password: CANARY }, 'missing user'],
      [['password', 'user', 'host'], { password: CANARY }, 'missing user, host'],
      [['password'], { password: CANARY, admin: CANARY }, 'not asked for admin'],
      [['password'], { password: CANARY, admin: CANARY, root: CANARY }, 'not asked for admin, root'],
      [['password'], { other: CANARY }, 'missing password; not asked for other'],
      [['password'], {}, 'missing password'],
    ];
    for (const [keys, values, says] of cases) {
      const inst = instance({ keys });
      await writer.ensure(inst, values);
      const f = await refusal(inst);
      expect([f.reason, f.retryable]).toEqual(['ConfigIncomplete', true]);
      expect(f.message).toMatch(new RegExp(`does not hold exactly the keys of spec.secretConfig.keys: ${says}$`));
    }
  });

  // RBAC is the real API server's: the emulator's admin identity may read anything
  it.skipIf(apiGround() !== 'real')(
    "the agent cannot read the Provider's referenced Secret in the instance's namespace (403)",
    async () => {
      await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
      await admin.create('/api/v1/namespaces/apps/secrets', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'db' },
        stringData: { password: CANARY },
      });
      const err = await asAgent.get('/api/v1/namespaces/apps/secrets/db').then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(err?.code).toBe(403);
    },
  );
});

describe('redactSecrets', () => {
  it('replaces every occurrence of every value, and leaves a text without them alone', () => {
    expect(redactSecrets(`bad ${CANARY} and ${CANARY} and u1`, { p: CANARY, u: 'u1' })).toBe(
      'bad [redacted] and [redacted] and [redacted]',
    );
    expect(redactSecrets('nothing here', { p: CANARY })).toBe('nothing here');
    expect(redactSecrets(`keeps ${CANARY}`, undefined)).toBe(`keeps ${CANARY}`);
    expect(redactSecrets('an empty value redacts nothing', { p: '' })).toBe('an empty value redacts nothing');
  });
});
