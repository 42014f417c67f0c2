/**
 * The controller's writer of per-instance secret config (controller/credentials/config.ts),
 * running as deploy/'s gantry-controller on the real API server (the admin on the emulator):
 * each instance's values land in gantry-nodes sealed to its node's key, with a keyed digest,
 * labelled for their instance; an unchanged value is not rewritten; a node without a key yet
 * gets the pending annotation and is sealed to as soon as its key appears; a Secret left by an
 * earlier instance of the same name is replaced; the sweep deletes those of instances gone.
 * The clear value appears in no Secret field and no log line of the writer.
 */
import { Writable } from 'node:stream';
import { createCurve } from '@nats-io/nkeys';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceConfigSecretName, type ProviderInstance } from '../../../api/index.js';
import { InstanceSecretConfig } from '../../../controller/credentials/config.js';
import { openSealed } from '../../../registry/sealed-credential.js';
import { isAlreadyExists, isNotFound, KubeClient } from '../../../runtime/kube.js';
import { startTestApiServer, type TestApiServer } from '../../support/apiserver.js';
import { waitFor } from '../cluster.js';

const CREDS = 'gantry-nodes';
const CANARY = 'canary-pw-7f3a9c';
const n1 = createCurve();
const n2 = createCurve();

let api: TestApiServer;
let admin: KubeClient;
let asController: KubeClient;
let logText = '';
const log = pino(
  { level: 'trace' },
  new Writable({
    write(chunk, _enc, done) {
      logText += String(chunk);
      done();
    },
  }),
);

function instance(name: string, uid: string, node = 'n1'): ProviderInstance {
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name, namespace: 'apps', uid },
    spec: {
      provider: 'p',
      nodeName: node,
      archive: { ref: 'reg.example:5000/p', digest: `sha256:${'a'.repeat(64)}`, revision: 1 },
      target: 'x86_64-linux',
      secretConfig: { keys: ['password'], sources: [{ name: 'db', resourceVersion: '1' }] },
    },
  };
}

async function held(name: string): Promise<any> {
  try {
    return await admin.get(`/api/v1/namespaces/${CREDS}/secrets/${instanceConfigSecretName('apps', name)}`);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const opened = (s: any, key = n1) => JSON.parse(openSealed(key, Buffer.from(s.data.sealed, 'base64').toString(), 'secret config'));

beforeAll(async () => {
  api = await startTestApiServer();
  admin = new KubeClient(api.kc);
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CREDS } }).catch((err) => {
    if (!isAlreadyExists(err)) throw err;
  });
  asController = new KubeClient((await api.identity('controller')).kc);
}, 120_000);

afterAll(async () => {
  asController?.close();
  admin?.close();
  await api?.stop();
});

describe('instance secret config, sealed per instance', () => {
  const keys: Record<string, string | undefined> = { n1: n1.getPublicKey(), n2: n2.getPublicKey() };
  const writer = () => new InstanceSecretConfig(asController, CREDS, log, (node) => keys[node], 100);

  it('is written sealed to the node of its instance, labelled for it, with a keyed digest and no clear text; unchanged values are not rewritten', async () => {
    const w = writer();
    const inst = instance('db-0', 'uid-db-0');
    await w.ensure(inst, { password: CANARY });
    const s = await held('db-0');
    expect(s.type).toBe('gantry.dev/sealed-config');
    expect(s.metadata.labels).toEqual({
      'gantry.dev/instance-sealed-config': 'true',
      'gantry.dev/instance-namespace': 'apps',
      'gantry.dev/instance-name': 'db-0',
      'gantry.dev/instance-uid': 'uid-db-0',
    });
    expect(s.metadata.annotations['gantry.dev/config-sealed-for']).toBe(`n1 ${n1.getPublicKey()}`);
    expect(s.metadata.annotations['gantry.dev/config-sealed-digest']).toMatch(/^[0-9a-f]{64}$/);
    expect(s.metadata.annotations['gantry.dev/config-pending']).toBeUndefined();
    expect(Object.keys(s.data)).toEqual(['sealed']);
    expect(opened(s)).toEqual({ password: CANARY });
    // node n2's key does not open it
    expect(() => opened(s, n2)).toThrow(/SEALED_FOR_ANOTHER_KEY|sealed to node n1/);
    const text = JSON.stringify(s);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain(Buffer.from(CANARY).toString('base64'));

    // the same values again: no write (the resourceVersion stays)
    await w.ensure(inst, { password: CANARY });
    expect((await held('db-0')).metadata.resourceVersion).toBe(s.metadata.resourceVersion);
    // a rotated value: resealed, and the digest changes with it
    await w.ensure(inst, { password: 'rotated-value' });
    const r = await held('db-0');
    expect(r.metadata.resourceVersion).not.toBe(s.metadata.resourceVersion);
    expect(r.metadata.annotations['gantry.dev/config-sealed-digest']).not.toBe(s.metadata.annotations['gantry.dev/config-sealed-digest']);
    expect(opened(r)).toEqual({ password: 'rotated-value' });
    expect(logText).not.toContain(CANARY);
    expect(logText).not.toContain('rotated-value');
    expect(logText).toContain('instance secret config written');
  });

  it("waits for a node's seal key (the pending annotation, no data), and seals to it once its agent publishes one", async () => {
    const w = writer();
    const inst = instance('late-0', 'uid-late-0', 'n3');
    await w.ensure(inst, { password: CANARY });
    const pending = await held('late-0');
    expect(pending.metadata.annotations['gantry.dev/config-pending']).toMatch(
      /^SEAL_KEY_MISSING: node n3's agent has not published its seal key .*the secret config waits for it/,
    );
    expect(pending.data).toBeUndefined();
    const n3 = createCurve();
    keys.n3 = n3.getPublicKey();
    const sealed = await waitFor('sealed to n3', async () => {
      const s = await held('late-0');
      return s?.data?.sealed && s;
    });
    expect(opened(sealed, n3)).toEqual({ password: CANARY });
    expect(sealed.metadata.annotations['gantry.dev/config-pending']).toBeUndefined();
    w.stop();
  });

  it('replaces a Secret left by an earlier instance of the same name, and reseals when the node key changes', async () => {
    const w = writer();
    await w.ensure(instance('again-0', 'uid-first'), { password: 'first-life' });
    await w.ensure(instance('again-0', 'uid-second'), { password: CANARY });
    const s = await held('again-0');
    expect(s.metadata.labels['gantry.dev/instance-uid']).toBe('uid-second');
    expect(opened(s)).toEqual({ password: CANARY });
    // the node's agent remade its key: the Secret follows it
    const remade = createCurve();
    keys.n1 = remade.getPublicKey();
    try {
      await w.ensure(instance('again-0', 'uid-second'), { password: CANARY });
      expect(opened(await held('again-0'), remade)).toEqual({ password: CANARY });
    } finally {
      keys.n1 = n1.getPublicKey();
    }
  });

  it('an instance being deleted, or without a uid, gets nothing written', async () => {
    const w = writer();
    const gone = instance('gone-0', 'uid-gone');
    gone.metadata.deletionTimestamp = new Date().toISOString();
    await w.ensure(gone, { password: CANARY });
    const noUid = instance('nouid-0', '');
    await w.ensure(noUid, { password: CANARY });
    expect(await held('gone-0')).toBeUndefined();
    expect(await held('nouid-0')).toBeUndefined();
  });

  it('the sweep deletes the Secrets of instances no longer live and keeps the others, and nothing of other kinds', async () => {
    const w = writer();
    await w.ensure(instance('keep-0', 'uid-keep'), { password: CANARY });
    await w.ensure(instance('drop-0', 'uid-drop'), { password: CANARY });
    await admin.create(`/api/v1/namespaces/${CREDS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'unrelated', labels: { 'gantry.dev/instance-pull-creds': 'true' } },
    });
    await w.sweep((_ns, name, uid) => name === 'keep-0' && uid === 'uid-keep');
    expect(await held('keep-0')).toBeDefined();
    expect(await held('drop-0')).toBeUndefined();
    expect(await admin.get(`/api/v1/namespaces/${CREDS}/secrets/unrelated`)).toBeDefined();
    expect(logText).toContain('instance secret config deleted');
    expect(logText).not.toContain(CANARY);
  });
});
