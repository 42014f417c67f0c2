/**
 * Config and secrets by reference through the running controller (as deploy/base's
 * gantry-controller on the real API server): spec.configFrom reaching instances (secret keys by
 * name only, values only to the SecretConfigWriter), every change of the template rolled out
 * under the budgets, each bad reference its own reason with nothing new started, pause/resume,
 * and a canary password found in no API object, Event or log line. The test plays the agents
 * (marking instances Running) and the sealed writer (a recorder of this controller's own
 * interface: the real one is controller/credentials/config.ts).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderInstance } from '../../../api/instance.js';
import type { RunningController } from '../../../controller/index.js';
import { isAlreadyExists } from '../../../runtime/kube.js';
import type { SecretConfigWriter } from '../../../controller/providers/secret-config.js';
import { APP, type Cluster, startCluster, startClusterController, waitFor } from '../cluster.js';
import { etcdKeysHolding } from '../../support/etcd.js';

const CANARY = 'canary-pw-7f3a9c1e5b';
const ROTATED = 'canary-pw-rotated-42d8e6';
const HASH = 'gantry.dev/template-hash';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('config and secrets by reference', () => {
  let c: Cluster;
  let ctl: RunningController;
  let ref = '';
  let digest1 = '';
  const logLines: string[] = [];
  let sink: Writable;
  const sealed: { instance: string; values: Record<string, string> }[] = [];
  const writer: SecretConfigWriter = {
    async ensure(inst, values) {
      sealed.push({ instance: inst.metadata.name, values: { ...values } });
    },
  };

  const put = async (kind: 'configmaps' | 'secrets', name: string, body: Record<string, unknown>) => {
    const path = `/api/v1/namespaces/${APP}/${kind}`;
    const obj = { apiVersion: 'v1', kind: kind === 'secrets' ? 'Secret' : 'ConfigMap', metadata: { name, namespace: APP }, ...body };
    // create, or replace it whole (an unconditional PUT, as kubectl replace)
    await c.client.create(path, obj).catch((err) => {
      if (!isAlreadyExists(err)) throw err;
      return c.client.replace(`${path}/${name}`, obj);
    });
  };
  const condition = (p: any, type: string) => p.status?.conditions?.find((x: any) => x.type === type);
  /** The Provider once the controller has written status for its current generation. */
  const observed = (name: string, ok: (p: any) => boolean, what: string) =>
    waitFor(
      what,
      async () => {
        const p = await c.provider(name);
        return p.status?.observedGeneration === p.metadata.generation && ok(p) && p;
      },
      30_000,
    );
  /** Plays the agents until every instance is of `hash` and Running; the lowest Ready count and highest total seen. */
  async function rollTo(name: string, hash: string, desired: number) {
    let minReady = Infinity;
    let maxTotal = 0;
    await waitFor(
      `${name} on template ${hash}`,
      async () => {
        const l = await c.instances(name);
        minReady = Math.min(minReady, l.filter((i) => i.status?.phase === 'Running').length);
        maxTotal = Math.max(maxTotal, l.length);
        await c.markRunning(name);
        return l.length === desired && l.every((i) => i.metadata.labels?.[HASH] === hash && i.status?.phase === 'Running');
      },
      45_000,
      50,
    );
    return { minReady, maxTotal };
  }
  async function settled(name: string, desired: number) {
    await waitFor(`${name}: ${desired} instances`, async () => (await c.instances(name)).length === desired, 30_000);
    await c.markRunning(name);
    return observed(
      name,
      (p) => condition(p, 'Progressing')?.reason === 'RolloutComplete' && p.status.readyReplicas === desired,
      `${name} complete`,
    );
  }

  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/cfg');
    digest1 = await c.publish('acme/cfg', { revision: 1, targets: ['x86_64-linux'] });
    for (let i = 1; i <= 4; i++) await c.addNode(`c${i}`, 'amd64');
    await put('configmaps', 'base', { data: { host: 'db.local', level: 'info', password: 'overridden-by-secret' } });
    await put('secrets', 'db', { type: 'Opaque', data: { password: b64(CANARY), user: b64('svc') } });
    sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    ctl = await startClusterController(c, {
      kubeConfig: c.controllerKc,
      configRefTtlMs: 300,
      secretConfig: writer,
      log: pino({ level: 'debug' }, sink),
    });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('merges ConfigMap, Secret and spec.config in order into instances: secret keys by name only, their values to the writer', async () => {
    await c.applyProvider('kv', {
      archive: { ref, revision: 1 },
      replicas: 2,
      configFrom: [{ configMapRef: { name: 'base' } }, { secretRef: { name: 'db' } }],
      config: { level: 'debug' },
    });
    const p = await settled('kv', 2);
    const secretRv = (await c.client.get(`/api/v1/namespaces/${APP}/secrets/db`)).metadata.resourceVersion;
    const l: ProviderInstance[] = await c.instances('kv');
    for (const i of l) {
      expect(i.spec.config).toEqual({ host: 'db.local', level: 'debug' });
      expect(i.spec.secretConfig).toEqual({ keys: ['password', 'user'], sources: [{ name: 'db', resourceVersion: secretRv }] });
      expect(i.metadata.labels?.[HASH]).toBe(p.status.templateHash);
    }
    expect(condition(p, 'ConfigResolved')).toMatchObject({ status: 'True', reason: 'ConfigResolved' });
    expect(p.status.updatedReplicas).toBe(2);
    await waitFor('both instances sealed', async () => new Set(sealed.map((s) => s.instance)).size === 2);
    for (const s of sealed) expect(s.values).toEqual({ password: CANARY, user: 'svc' });
  });

  it('rotating the Secret rolls out a new template never below desired - 1 Ready nor above desired (maxUnavailable 1, maxSurge 0)', async () => {
    await c.patchProvider('kv', { replicas: 3, rollout: { maxUnavailable: 1, maxSurge: 0 } });
    const before = (await settled('kv', 3)).status.templateHash;
    await put('secrets', 'db', { type: 'Opaque', data: { password: b64(ROTATED), user: b64('svc') } });
    const next = await waitFor('a new template', async () => {
      const h = (await c.provider('kv')).status?.templateHash;
      return h !== before && h;
    });
    const seen = await rollTo('kv', next, 3);
    expect(seen.minReady).toBeGreaterThanOrEqual(2);
    expect(seen.maxTotal).toBeLessThanOrEqual(3);
    const rv = (await c.client.get(`/api/v1/namespaces/${APP}/secrets/db`)).metadata.resourceVersion;
    for (const i of await c.instances('kv')) expect(i.spec.secretConfig.sources).toEqual([{ name: 'db', resourceVersion: rv }]);
    const names = new Set((await c.instances('kv')).map((i: ProviderInstance) => i.metadata.name));
    await waitFor('the new instances sealed with the rotated value', async () =>
      [...names].every((n) => sealed.some((s) => s.instance === n && s.values.password === ROTATED)),
    );
    // an old instance is never re-sealed with the new value: it is replaced instead
    expect(sealed.filter((s) => !names.has(s.instance)).every((s) => s.values.password === CANARY)).toBe(true);
  }, 90_000);

  it('editing the ConfigMap rolls out surge-first (maxSurge 1, maxUnavailable 0): never below 3 Ready nor above 4', async () => {
    await c.patchProvider('kv', { rollout: { maxUnavailable: 0, maxSurge: 1 } });
    const before = (await settled('kv', 3)).status.templateHash;
    await put('configmaps', 'base', { data: { host: 'db2.local', level: 'info' } });
    const next = await waitFor('a new template', async () => {
      const h = (await c.provider('kv')).status?.templateHash;
      return h !== before && h;
    });
    const seen = await rollTo('kv', next, 3);
    expect(seen.minReady).toBeGreaterThanOrEqual(3);
    expect(seen.maxTotal).toBeLessThanOrEqual(4);
    for (const i of await c.instances('kv')) expect(i.spec.config).toEqual({ host: 'db2.local', level: 'debug' });
  }, 90_000);

  it('each bad reference is its own ConfigResolved reason and Event; nothing of the new template starts, the old instances keep running', async () => {
    await put('secrets', 'notutf8', { type: 'Opaque', data: { bin: Buffer.from([0xff, 0xfe, 0x00]).toString('base64') } });
    await put('configmaps', 'binary', { binaryData: { blob: b64('xx') } });
    await c.patchProvider('kv', { rollout: { maxUnavailable: 1, maxSurge: 0 } });
    const p0 = await settled('kv', 3);
    const running = (await c.instances('kv')).map((i: ProviderInstance) => i.metadata.name).sort();
    const cases: [unknown[], string, string][] = [
      [[{ configMapRef: { name: 'nope' } }], 'ConfigMapNotFound', 'ConfigMap apps/nope does not exist'],
      [[{ secretRef: { name: 'nope' } }], 'SecretNotFound', 'Secret apps/nope does not exist'],
      [[{ secretRef: { name: 'db' }, keys: ['password', 'missing'] }], 'ConfigKeyNotFound', 'Secret apps/db has no key missing'],
      [[{ secretRef: { name: 'notutf8' } }], 'ConfigValueInvalid', 'Secret apps/notutf8 key bin is not UTF-8 text'],
      [[{ configMapRef: { name: 'binary' } }], 'ConfigValueInvalid', 'ConfigMap apps/binary key blob is binaryData'],
    ];
    for (const [configFrom, reason, says] of cases) {
      await c.patchProvider('kv', { configFrom });
      const p = await observed('kv', (p) => condition(p, 'ConfigResolved')?.message?.startsWith(says), `ConfigResolved=False ${reason}`);
      expect(condition(p, 'ConfigResolved')).toMatchObject({ status: 'False', reason });
      expect(condition(p, 'ConfigResolved').message).toContain('instances already running keep running');
      const ev = await waitFor(`${reason} event`, async () =>
        (await c.events('kv')).find((e) => e.reason === reason && e.message.startsWith(says)),
      );
      expect(ev.type).toBe('Warning');
      const l = await c.instances('kv');
      expect(l.map((i: ProviderInstance) => i.metadata.name).sort()).toEqual(running);
      expect(l.every((i: ProviderInstance) => i.metadata.labels?.[HASH] === p0.status.templateHash && i.status?.phase === 'Running')).toBe(
        true,
      );
    }
    // an optional missing object contributes nothing: the config resolves again
    await c.patchProvider('kv', {
      configFrom: [{ configMapRef: { name: 'nope', optional: true } }, { configMapRef: { name: 'base' } }, { secretRef: { name: 'db' } }],
    });
    const back = await observed('kv', (p) => condition(p, 'ConfigResolved')?.status === 'True', 'ConfigResolved=True again');
    expect(back.status.templateHash).toBe(p0.status.templateHash);
  }, 120_000);

  it('while paused a changed config starts nothing, scaling uses the running template, and resume rolls out', async () => {
    const p0 = await settled('kv', 3);
    await c.patchProvider('kv', { paused: true, config: { level: 'trace' } });
    const paused = await observed('kv', (p) => condition(p, 'Progressing')?.reason === 'RolloutPaused', 'RolloutPaused');
    expect(paused.status.templateHash).toBe(p0.status.templateHash);
    expect(condition(paused, 'Progressing').message).toContain('waits for resume');
    await c.patchProvider('kv', { replicas: 4 });
    const grown = await waitFor('scaled to 4 while paused', async () => {
      const l = await c.instances('kv');
      return l.length === 4 && l;
    });
    expect(
      grown.every((i: ProviderInstance) => i.metadata.labels?.[HASH] === p0.status.templateHash && i.spec.config?.level === 'debug'),
    ).toBe(true);
    await c.patchProvider('kv', { paused: null });
    const next = await waitFor('a new template after resume', async () => {
      const h = (await c.provider('kv')).status?.templateHash;
      return h !== p0.status.templateHash && h;
    });
    await rollTo('kv', next, 4);
    for (const i of await c.instances('kv')) expect(i.spec.config.level).toBe('trace');
  }, 90_000);

  it('an instance made by the previous controller (no template label, the same spec) counts as current: the upgrade rolls nothing', async () => {
    await ctl.stop();
    await c.applyProvider('legacy', { archive: { ref, revision: 1 }, replicas: 1, config: { a: { b: [1, 2] } } });
    const owner = await c.provider('legacy');
    // exactly what the controller before template hashes wrote (schedule.ts bindPhase then)
    const legacy = await c.client.create(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'ProviderInstance',
      metadata: {
        name: 'legacy-0a1b2',
        namespace: APP,
        labels: { 'gantry.dev/provider': 'legacy', 'gantry.dev/node': 'c1' },
        ownerReferences: [
          {
            apiVersion: 'gantry.dev/v1alpha1',
            kind: 'Provider',
            name: 'legacy',
            uid: owner.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        provider: 'legacy',
        nodeName: 'c1',
        archive: { ref, digest: digest1, revision: 1 },
        target: 'x86_64-linux',
        linkName: 'default',
        config: { a: { b: [1, 2] } },
        issuers: [c.issuer],
      },
    });
    await c.markRunning('legacy');
    ctl = await startClusterController(c, {
      kubeConfig: c.controllerKc,
      configRefTtlMs: 300,
      secretConfig: writer,
      log: pino({ level: 'debug' }, sink),
    });
    const p = await observed('legacy', (p) => condition(p, 'Progressing')?.reason === 'RolloutComplete', 'legacy RolloutComplete');
    expect(p.status.updatedReplicas).toBe(1);
    const l = await c.instances('legacy');
    expect(l.map((i: ProviderInstance) => [i.metadata.name, i.metadata.uid, i.metadata.labels?.[HASH]])).toEqual([
      [legacy.metadata.name, legacy.metadata.uid, undefined],
    ]);
  }, 60_000);

  it('the canary password is in no ProviderInstance, Provider, Event (any namespace) or controller log line', async () => {
    expect(logLines.length).toBeGreaterThan(0);
    const everything = [
      await c.client.list(`/apis/gantry.dev/v1alpha1/providerinstances`),
      await c.client.list(`/apis/gantry.dev/v1alpha1/providers`),
      await c.client.list(`/api/v1/events`),
    ];
    // the attack would succeed if either value were anywhere: prove the search can see what is there
    expect(JSON.stringify(everything)).toContain('db2.local');
    for (const secret of [CANARY, ROTATED, b64(CANARY), b64(ROTATED)]) {
      expect(JSON.stringify(everything)).not.toContain(secret);
      expect(logLines.filter((l) => l.includes(secret))).toEqual([]);
    }
  });

  it.runIf(process.env.GANTRY_TEST_APISERVER === 'real')(
    "in the real API server's etcd the canary is only under /registry/secrets/apps/db",
    async () => {
      const etcd = c.api.controlPlane!.etcdUrl;
      // every key at the latest revision, through etcd's JSON gateway (no etcdctl here); base64 too
      const holding = async (needle: string) => [...(await etcdKeysHolding(etcd, needle)), ...(await etcdKeysHolding(etcd, b64(needle)))];
      // the search sees other objects' bytes (it is no empty scan)
      expect((await etcdKeysHolding(etcd, 'db2.local')).length).toBeGreaterThan(0);
      // the search sees a Secret's bytes where they are (the current value after the rotation) …
      expect(await holding(ROTATED)).toEqual([`/registry/secrets/${APP}/db`]);
      // … and the first value, rotated away, is nowhere at the latest revision
      expect(await holding(CANARY)).toEqual([]);
    },
  );
});
