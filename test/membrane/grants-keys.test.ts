/**
 * Attacks on who a grant's key belongs to, on real parts: the API server of the run's ground
 * (the emulator or the real kube-apiserver; vitest.config.ts runs this file on both), the
 * controller's grant reconciler as the controller's identity, a real nats-server in operator
 * mode and echo hosts.
 *   - a grant's key cannot be swapped (spec.grantee is immutable: 422 Invalid), so deleting it
 *     revokes the one key it ever issued for;
 *   - a grant in another namespace naming a provider host's key (status.hostKey) or a key a
 *     grant of this namespace was issued first is Ready=False KeyInUse, is never issued, and
 *     deleting it revokes nothing: the host keeps serving, the victim keeps calling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRANTEE_IMMUTABLE, group, version } from '../../api/index.js';
import { grantsPath } from '../../controller/grants/reconcile.js';
import { callProvider, CallError } from '../../client/call.js';
import { connectError, connectNats } from '../../client/nats.js';
import { formatCreds } from '../../client/creds.js';
import { hostPermissions } from '../../membrane/permissions.js';
import { isNotFound, KubeApiError, type KubeClient } from '../../runtime/kube.js';
import type { MembraneNats } from '../support/nats.js';
import { NS, buildProviders, makeHost, text } from '../host/helpers.js';
import { GrantWorld, user, waitFor } from './grant-world.js';

const EVIL = 'evil';
let kube: KubeClient;
let nats: MembraneNats;

const grant = (ns: string, name: string, nkey: string) =>
  kube.create(grantsPath(ns), {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'CapabilityGrant',
    metadata: { name, namespace: ns },
    spec: { grantee: { nkey }, provider: 'echo', operations: ['*'] },
  });

const ready = (g: any) => g?.status?.conditions?.find((c: any) => c.type === 'Ready');
const readyGrant = (ns: string, name: string, reason: string) =>
  waitFor(`grant ${ns}/${name} ${reason}`, async () => {
    const g = await kube.get(`${grantsPath(ns)}/${name}`);
    return ready(g)?.reason === reason ? g : undefined;
  });

/** Delete and wait until the object is gone (the finalizer ran: whatever it revokes is revoked and pushed). */
async function deleteGrant(ns: string, name: string): Promise<void> {
  await kube.delete(`${grantsPath(ns)}/${name}`);
  await waitFor(`grant ${ns}/${name} gone`, () =>
    kube.get(`${grantsPath(ns)}/${name}`).then(
      () => undefined,
      (e) => (isNotFound(e) ? true : undefined),
    ),
  );
}

const whoami = (nc: Awaited<ReturnType<typeof connectNats>>, instance?: string) =>
  callProvider(nc, { namespace: NS, provider: 'echo', instance, op: 'Whoami', timeoutMs: 5000 });

const world = new GrantWorld({ namespaces: [NS, EVIL], echoHost: true, asController: true });
beforeAll(async () => {
  buildProviders();
  await world.start();
  ({ kube, nats } = world);
}, 180_000);
afterAll(() => world.stop());

describe("a grant's key", () => {
  it('cannot be changed (422 Invalid on spec.grantee); deleting the grant then refuses the one key it issued for', async () => {
    const u = user();
    await grant(NS, 'swap', u.key);
    const g = await readyGrant(NS, 'swap', 'Issued');
    const creds = nats.writeCreds('swap', formatCreds(g.status.userJwt, u.seed));
    const err = await kube.mergePatch(`${grantsPath(NS)}/swap`, { spec: { grantee: { nkey: user().key } } }).catch((e) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.code).toBe(422);
    expect(err.reason).toBe('Invalid');
    expect(err.status.details.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.grantee', message: `Invalid value: "object": ${GRANTEE_IMMUTABLE}` },
    ]);
    expect((await kube.get(`${grantsPath(NS)}/swap`)).spec.grantee.nkey).toBe(u.key);

    const nc = await connectNats({ servers: nats.url, credsFile: creds });
    expect(text((await whoami(nc)).reply)).toBe(u.key);
    await deleteGrant(NS, 'swap');
    // the open connection is closed and a new one refused: the key this grant named is revoked
    await nc.closed();
    const refused = await connectNats({ servers: nats.url, credsFile: creds, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(refused, { servers: nats.url }).code).toBe('NATS_AUTH_FAILED');
  });
});

describe('another namespace naming a key someone holds', () => {
  it("a provider host's key: KeyInUse, never issued; deleting it leaves the host connected and answering", async () => {
    // a host identity as the agent makes it: the key made on the node, published in status.hostKey
    const host = nats.authority.mintUser(`host-${NS}-echo-h`, (k) =>
      hostPermissions(k, { namespace: NS, provider: 'echo', instance: 'echo-h', capid: 'gantry:echo' }),
    );
    const h = makeHost(nats.url, {
      provider: 'echo',
      instance: 'echo-h',
      expectedCapid: 'gantry:echo',
      nats: { servers: nats.url, credsFile: nats.writeCreds('echo-h', host.creds!) },
    });
    await h.start();
    const instances = `/apis/${group}/${version}/namespaces/${NS}/providerinstances`;
    await kube.create(instances, {
      apiVersion: `${group}/${version}`,
      kind: 'ProviderInstance',
      metadata: { name: 'echo-h' },
      spec: {
        provider: 'echo',
        nodeName: 'node-a',
        archive: { ref: 'registry.local/echo', digest: `sha256:${'0'.repeat(64)}`, revision: 1 },
        target: 'x86_64-linux',
        capid: 'gantry:echo',
      },
    });
    await kube.mergePatch(`${instances}/echo-h/status`, { status: { hostKey: host.userKey } });

    await grant(EVIL, 'steal-host', host.userKey);
    const g = await readyGrant(EVIL, 'steal-host', 'KeyInUse');
    expect(ready(g).status).toBe('False');
    expect(ready(g).message).not.toMatch(new RegExp(`${NS}|echo-h`));
    expect(g.status.userJwt).toBeUndefined();
    await deleteGrant(EVIL, 'steal-host');

    expect(nats.authority.revocations.toRecord()[host.userKey]).toBeUndefined(); // no entry of its own (the '*' entry predates every JWT)
    const admin = await connectNats({ servers: nats.url, credsFile: nats.adminCreds });
    try {
      // the host's own connection still receives and answers
      expect((await callProvider(admin, { namespace: NS, provider: 'echo', instance: 'echo-h', op: 'Echo', data: 'alive' })).instance).toBe(
        'echo-h',
      );
    } finally {
      await admin.close();
    }
    await h.stop();
  });

  it("a user key another namespace's grant was issued first: KeyInUse; deleting it leaves the victim calling", async () => {
    const victim = user();
    await grant(NS, 'victim', victim.key);
    const issued = await readyGrant(NS, 'victim', 'Issued');
    const creds = nats.writeCreds('victim', formatCreds(issued.status.userJwt, victim.seed));
    const nc = await connectNats({ servers: nats.url, credsFile: creds });
    try {
      expect(text((await whoami(nc)).reply)).toBe(victim.key);
      await grant(EVIL, 'steal-user', victim.key);
      const g = await readyGrant(EVIL, 'steal-user', 'KeyInUse');
      expect(ready(g).message).not.toContain(NS);
      expect(g.status.userJwt).toBeUndefined();
      await deleteGrant(EVIL, 'steal-user');

      expect(nats.authority.revocations.toRecord()[victim.key]).toBeUndefined();
      // the open connection and a fresh one both still call, with the creds issued before
      expect(text((await whoami(nc)).reply)).toBe(victim.key);
      const again = await connectNats({ servers: nats.url, credsFile: creds });
      expect(text((await whoami(again)).reply)).toBe(victim.key);
      await again.close();
      expect((await kube.get(`${grantsPath(NS)}/victim`)).status.userJwt).toBe(issued.status.userJwt);
    } finally {
      await nc.close().catch(() => {});
    }
  });

  it('when the holder goes, the waiting grant is issued (its own namespace now holds the key)', async () => {
    const u = user();
    await grant(NS, 'first', u.key);
    await readyGrant(NS, 'first', 'Issued');
    await grant(EVIL, 'second', u.key);
    await readyGrant(EVIL, 'second', 'KeyInUse');
    await deleteGrant(NS, 'first');
    const g = await readyGrant(EVIL, 'second', 'Issued');
    const nc = await connectNats({ servers: nats.url, credsFile: nats.writeCreds('second', formatCreds(g.status.userJwt, u.seed)) });
    // evil's grant reaches evil's echo, which does not exist: the point is that it was issued, not FORBIDDEN at connect
    const r = await callProvider(nc, { namespace: EVIL, provider: 'echo', op: 'Echo', data: 'x', timeoutMs: 1000 }).catch((e) => e);
    expect(r).toBeInstanceOf(CallError);
    expect((r as CallError).code).not.toBe('FORBIDDEN');
    await nc.close();
    await deleteGrant(EVIL, 'second');
  });
});
