/**
 * Host identities made on the node (issue 28), end to end: the API server, the controller
 * holding the membrane keys (host JWT lifetime of a few seconds), a real nats-server in
 * operator mode, the agent's host identities and instance runner, and a real echo host.
 *   - a host serves on a key made on its node; its JWT is renewed every two thirds of a
 *     lifetime and the host reconnects without dropping a call (≥ 100 calls/s for > 2 lifetimes);
 *   - a key copied from another instance, or a grant's key, is refused (HostKeyRefused), no JWT;
 *   - credentials NATS refuses (revoked) heal by a new key, without a human;
 *   - the previous design's Secrets are removed and their keys revoked; a gone instance's key is revoked.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderInstance } from '../../api/index.js';
import { HostIdentities } from '../../agent/host-identity.js';
import { InstanceRunner } from '../../agent/instance-runner.js';
import { StatusWriter } from '../../agent/status.js';
import { callProvider } from '../../client/call.js';
import { connectError, connectNats } from '../../client/nats.js';
import { InstanceCredentials } from '../../controller/credentials/host.js';
import { grantsPath } from '../../controller/grants/reconcile.js';
import { decodeJwt } from '../../client/jwt.js';
import { hostPermissions } from '../../membrane/permissions.js';
import { Informer } from '../../runtime/informer.js';
import { isNotFound, type KubeClient } from '../../runtime/kube.js';
import { logger } from '../../runtime/log.js';
import type { ProviderHost } from '../../agent/host/index.js';
import type { MembraneNats } from '../support/nats.js';
import { NS, buildProviders, makeHost, providerLib, stopAllHosts, text } from '../host/helpers.js';
import { GrantWorld, SYSTEM, waitFor } from './grant-world.js';

const LIFETIME_MS = 4000;
const instances = `/apis/gantry.dev/v1alpha1/namespaces/${NS}/providerinstances`;
let kube: KubeClient;
let nats: MembraneNats;
let informer: Informer<ProviderInstance>;
let identities: HostIdentities;
let dir: string;
const log = logger('test');

async function createInstance(name: string): Promise<ProviderInstance> {
  await kube.create(instances, {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name, namespace: NS },
    spec: {
      provider: 'echo',
      nodeName: 'n1',
      archive: { ref: 'localhost:5000/echo', digest: `sha256:${'0'.repeat(64)}`, revision: 1 },
      target: 'linux_x86_64-gnu',
      capid: 'gantry:echo',
    },
  });
  return waitFor(`informer has ${name}`, () => informer.get(name, NS));
}

const hostCreds = (i: ProviderInstance | undefined) => i?.status?.conditions?.find((c) => c.type === 'HostCredentials');

/** The agent's instance runner for `inst`, on a real host, with node-made credentials. */
function runner(inst: ProviderInstance, hosts: ProviderHost[]): InstanceRunner {
  return new InstanceRunner(inst, {
    prepare: async (i) => ({
      libraryPath: providerLib('echo'),
      capid: 'gantry:echo',
      sha256: '',
      natsCredsFile: await identities.credsFor(i),
    }),
    createHost: (i, b) => {
      const h = makeHost(
        nats.url,
        {
          provider: 'echo',
          instance: i.metadata.name,
          expectedCapid: 'gantry:echo',
          nats: { servers: nats.url, credsFile: b.natsCredsFile },
        },
        { backoff: { initialMs: 200, maxMs: 1000 } },
      );
      hosts.push(h);
      return h;
    },
    libraryIntact: () => true,
    status: new StatusWriter(kube, log),
    recordPid: () => {},
    log,
    credentials: identities,
    current: (ref) => informer.get(ref.name, ref.namespace),
    retryMinMs: 200,
    retryMaxMs: 1000,
  });
}

const world = new GrantWorld({ namespaces: [NS], controller: { hostJwtLifetimeMs: LIFETIME_MS } });
beforeAll(async () => {
  buildProviders();
  await world.start();
  ({ kube, nats } = world);
  informer = new Informer<ProviderInstance>({ client: kube, path: '/apis/gantry.dev/v1alpha1/providerinstances' });
  dir = mkdtempSync(join(tmpdir(), 'gantry-host-keys-'));
  identities = new HostIdentities({ kube, dir: join(dir, 'host-keys'), account: nats.authority.accountKey, log, waitMs: 10_000 });
  informer.addHandler({ add: (i) => identities.observe(i), update: (i) => identities.observe(i) });
  await informer.start();
}, 60_000);

afterAll(async () => {
  await stopAllHosts();
  await informer?.stop();
  await world.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('host identities made on the node', () => {
  it('a host serves on its node-made key; renewed JWTs reconnect it without one failed call at ≥ 100 calls/s', async () => {
    const inst = await createInstance('echo-r');
    const hosts: ProviderHost[] = [];
    const r = runner(inst, hosts);
    r.start();
    await waitFor('Running', () => (r.currentPhase === 'Running' ? true : undefined));
    const now = informer.get('echo-r', NS)!;
    const claims = decodeJwt(now.status!.hostJwt!);
    expect(claims.sub).toBe(now.status!.hostKey);
    expect(claims.iss).toBe(nats.authority.accountKey);
    expect(claims.exp! - claims.iat).toBeLessThanOrEqual(LIFETIME_MS / 1000 + 1);
    // the seed stays on the node: 0600 in a 0700 directory, and nowhere in the API
    expect(statSync(join(dir, 'host-keys')).mode & 0o777).toBe(0o700);
    expect(JSON.stringify(now)).not.toMatch(/SU[A-Z2-7]{56}/);
    const admin = await connectNats({ servers: nats.url, credsFile: nats.adminCreds });
    let ok = 0;
    const failures: string[] = [];
    const t0 = Date.now();
    const inflight: Promise<void>[] = [];
    // 10 calls every 50 ms (200/s) until two renewals landed and more than two lifetimes passed
    while (Date.now() - t0 < 2 * LIFETIME_MS + 1500 || hosts[0].renewals < 2) {
      if (Date.now() - t0 > 6 * LIFETIME_MS) break;
      for (let k = 0; k < 10; k++)
        inflight.push(
          callProvider(admin, { namespace: NS, provider: 'echo', op: 'Echo', data: `c${ok}`, timeoutMs: 5000 }).then(
            (res) => {
              if (text(res.reply).startsWith('c')) ok++;
            },
            (e) => void failures.push(`${(e as { code?: string }).code}: ${(e as Error).message}`),
          ),
        );
      await new Promise((res) => setTimeout(res, 50));
    }
    await Promise.all(inflight);
    const seconds = (Date.now() - t0) / 1000;
    console.log(
      `renewal: ${ok} calls in ${seconds.toFixed(1)} s (${(ok / seconds).toFixed(0)}/s), ${failures.length} failed, ${hosts[0].renewals} renewals, ${r.restartCount} restarts`,
    );
    expect(failures).toEqual([]);
    expect(ok / seconds).toBeGreaterThanOrEqual(100);
    expect(hosts[0].renewals).toBeGreaterThanOrEqual(2);
    expect(r.restartCount).toBe(0);
    await admin.close();
    await r.stop('gone');
  }, 60_000);

  it('a hostKey copied from another instance is refused (HostKeyRefused), no JWT; the owner keeps its own', async () => {
    const owner = await createInstance('echo-owner');
    await identities.credsFor(owner);
    const ownerKey = informer.get('echo-owner', NS)!.status!.hostKey!;
    const thief = await createInstance('echo-thief');
    await kube.mergePatch(`${instances}/echo-thief/status`, { status: { hostKey: ownerKey } });
    const refused = await waitFor('refusal', () => {
      const c = hostCreds(informer.get('echo-thief', NS));
      return c?.reason === 'HostKeyRefused' ? c : undefined;
    });
    expect(refused.status).toBe('False');
    expect(refused.message).toContain('already belongs to another instance');
    expect(informer.get('echo-thief', NS)!.status?.hostJwt).toBeUndefined();
    expect(decodeJwt(informer.get('echo-owner', NS)!.status!.hostJwt!).sub).toBe(ownerKey);
    expect(thief.metadata.uid).not.toBe(owner.metadata.uid);
  });

  it("a hostKey naming a CapabilityGrant's key is refused (HostKeyRefused), no JWT", async () => {
    const grantee = createUser().getPublicKey();
    await kube.create(grantsPath(NS), {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'CapabilityGrant',
      metadata: { name: 'g1', namespace: NS },
      spec: { grantee: { nkey: grantee }, provider: 'echo', operations: ['Echo'] },
    });
    await waitFor('grant seen', () => kube.get(`${grantsPath(NS)}/g1`).then((g) => (g.status ? g : undefined)));
    await createInstance('echo-grant');
    await kube.mergePatch(`${instances}/echo-grant/status`, { status: { hostKey: grantee } });
    const refused = await waitFor('refusal', () => {
      const c = hostCreds(informer.get('echo-grant', NS));
      return c?.reason === 'HostKeyRefused' ? c : undefined;
    });
    expect(refused.message).toContain(`CapabilityGrant ${NS}/g1`);
    expect(informer.get('echo-grant', NS)!.status?.hostJwt).toBeUndefined();
  });

  it('a host whose credentials NATS refuses (revoked) gets a new key and heals without a human', async () => {
    const inst = await createInstance('echo-heal');
    const hosts: ProviderHost[] = [];
    const r = runner(inst, hosts);
    r.start();
    await waitFor('Running', () => (r.currentPhase === 'Running' ? true : undefined));
    const oldKey = informer.get('echo-heal', NS)!.status!.hostKey!;
    const t0 = Date.now();
    nats.authority.revoke(oldKey, Math.floor(Date.now() / 1000) + 1);
    await nats.authority.pushAccount(nats.url);
    const admin = await connectNats({ servers: nats.url, credsFile: nats.adminCreds });
    const healed = await waitFor(
      'healed',
      async () => {
        const k = informer.get('echo-heal', NS)?.status?.hostKey;
        if (k === oldKey) return undefined;
        const res = await callProvider(admin, {
          namespace: NS,
          provider: 'echo',
          instance: 'echo-heal',
          op: 'Echo',
          data: 'back',
          timeoutMs: 1000,
        });
        return text(res.reply) === 'back' ? k : undefined;
      },
      30_000,
    );
    console.log(`heal: new key after revocation, serving again in ${Date.now() - t0} ms, ${r.restartCount} restarts`);
    expect(healed).not.toBe(oldKey);
    expect(r.restartCount).toBeGreaterThanOrEqual(1);
    await admin.close();
    await r.stop('gone');
  }, 60_000);

  it("removes the previous design's host credential Secrets and revokes their keys; a gone instance's key is revoked", async () => {
    const legacy = nats.authority.mintUser('host:legacy', (k) =>
      hostPermissions(k, { namespace: NS, provider: 'echo', instance: 'legacy', capid: 'gantry:echo' }),
    );
    await kube.create(`/api/v1/namespaces/${SYSTEM}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'gantry-instance-legacy',
        labels: { 'gantry.dev/instance-creds': 'true' },
        annotations: { 'gantry.dev/user-key': legacy.userKey },
      },
      data: { 'nats.creds': Buffer.from(legacy.creds!).toString('base64') },
    });
    const file = nats.writeCreds('legacy', legacy.creds!);
    (await connectNats({ servers: nats.url, credsFile: file })).close();
    const creds = new InstanceCredentials({ authority: nats.authority, servers: nats.url }, kube, SYSTEM, log, {
      grants: () => [],
      instances: () => informer.list(),
    });
    await creds.sweep(() => true);
    await expect(kube.get(`/api/v1/namespaces/${SYSTEM}/secrets/gantry-instance-legacy`)).rejects.toSatisfy(isNotFound);
    const refused = await connectNats({ servers: nats.url, credsFile: file, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(refused, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
    expect((await kube.list(`/api/v1/namespaces/${SYSTEM}/secrets`)).items.map((s: any) => s.metadata.name)).not.toContainEqual(
      expect.stringMatching(/^gantry-instance-/),
    );

    // an instance that goes: the key the controller signed for it is revoked
    const inst = await createInstance('echo-gone');
    const credsFile = await identities.credsFor(inst);
    (await connectNats({ servers: nats.url, credsFile })).close();
    await kube.delete(`${instances}/echo-gone`);
    await waitFor(
      'revoked',
      async () => {
        const e = await connectNats({ servers: nats.url, credsFile, connectTimeoutMs: 2000 }).then(
          (nc) => void nc.close(),
          (err) => err,
        );
        return e && connectError(e, { servers: nats.url }).code === 'NATS_AUTH_FAILED' ? true : undefined;
      },
      20_000,
    );
  }, 60_000);

  it('signs on the first pass when the agent wrote status after the copy the controller read (a 409 is re-read at once, not backed off)', async () => {
    await createInstance('echo-race');
    const key = createUser().getPublicKey();
    await kube.mergePatch(`${instances}/echo-race/status`, { status: { hostKey: key } });
    const stale = await kube.get<ProviderInstance>(`${instances}/echo-race`);
    // the agent's next phase write: the controller's copy is now one version behind
    await kube.mergePatch(`${instances}/echo-race/status`, { status: { phase: 'Fetching' } });
    const creds = new InstanceCredentials({ authority: nats.authority, servers: nats.url }, kube, SYSTEM, log, {
      grants: () => [],
      instances: () => [stale],
    });
    await creds.ensure(stale);
    const now = await kube.get<ProviderInstance>(`${instances}/echo-race`);
    expect(decodeJwt(now.status!.hostJwt!).sub).toBe(key);
    expect(now.status?.phase).toBe('Fetching'); // the agent's write is kept
    expect(hostCreds(now)?.reason).toBe('Issued');
  }, 30_000);
});
