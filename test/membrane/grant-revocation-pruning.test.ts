/**
 * A deleted CapabilityGrant's revocation entry, end to end (API server, the controller holding
 * the membrane keys with a 4 s JWT lifetime, a real nats-server): the entry is in the account
 * JWT the server holds while the grant's JWT could still be valid, pruned by the first push
 * after the lifetime has passed, and the grant's JWT is refused all along (revoked, then
 * expired).
 */
import { connect, jwtAuthenticator } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inboxPrefix } from '../../client/protocol.js';
import { grantsPath } from '../../controller/grants/reconcile.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { decodeJwt } from '../../client/jwt.js';
import { isNotFound, type KubeClient } from '../../runtime/kube.js';
import type { MembraneNats } from '../support/nats.js';
import { GrantWorld, user, waitFor } from './grant-world.js';

const NS = 'grant-pruning';
const LIFETIME = 4;
let kube: KubeClient;
let nats: MembraneNats;

const connectAs = (jwt: string, seed: string) =>
  connect({
    servers: nats.url,
    authenticator: jwtAuthenticator(jwt, new TextEncoder().encode(seed)),
    reconnect: false,
    timeout: 3000,
  });

/** The revocation list of the account JWT the server holds. */
async function heldRevocations(): Promise<Record<string, number>> {
  const sys = nats.authority.mintSystemUser('test-lookup');
  const nc = await connect({
    servers: nats.url,
    inboxPrefix: inboxPrefix(sys.userKey),
    authenticator: jwtAuthenticator(sys.jwt, new TextEncoder().encode(sys.seed!)),
  });
  try {
    const m = await nc.request(`$SYS.REQ.ACCOUNT.${nats.authority.accountKey}.CLAIMS.LOOKUP`, new Uint8Array(0), { timeout: 3000 });
    return (decodeJwt(new TextDecoder().decode(m.data)).nats as { revocations?: Record<string, number> }).revocations ?? {};
  } finally {
    await nc.close();
  }
}

/** Create a grant for a fresh key and wait until it is Issued; returns the key and its JWT. */
async function issuedGrant(name: string) {
  const u = user();
  await kube.create(grantsPath(NS), {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'CapabilityGrant',
    metadata: { name, namespace: NS },
    spec: { grantee: { nkey: u.key }, provider: 'echo', operations: ['Echo'] },
  });
  const jwt = await waitFor(`grant ${name} issued`, async () => {
    const g = await kube.get<any>(`${grantsPath(NS)}/${name}`);
    return g.status?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'Issued' ? (g.status.userJwt as string) : undefined;
  });
  return { ...u, jwt };
}

async function deleteGrant(name: string) {
  await kube.delete(`${grantsPath(NS)}/${name}`);
  await waitFor(`grant ${name} gone`, async () =>
    kube.get(`${grantsPath(NS)}/${name}`).then(
      () => undefined,
      (e) => (isNotFound(e) ? true : undefined),
    ),
  );
}

const world = new GrantWorld({
  namespaces: [NS],
  membrane: { authority: MembraneAuthority.generate({ maxJwtLifetimeSec: LIFETIME, clockSkewSec: 0 }) },
});
beforeAll(async () => {
  await world.start();
  ({ kube, nats } = world);
}, 60_000);
afterAll(() => world.stop());

it('a deleted grant: its entry is pushed, pruned once its JWT has expired, and the JWT stays refused', async () => {
  const t0 = Date.now();
  const a = await issuedGrant('short-lived');
  const claims = decodeJwt(a.jwt);
  expect(claims.exp).toBe(claims.iat + LIFETIME); // the controller asked for none: the authority's bound
  await (await connectAs(a.jwt, a.seed)).close(); // valid before the deletion

  await deleteGrant('short-lived');
  const cutoff = (await heldRevocations())[a.key];
  expect(cutoff).toBeGreaterThanOrEqual(claims.iat);
  expect(String(await connectAs(a.jwt, a.seed).catch((e: Error) => e))).toMatch(/authorization violation/i);

  // Once cut-off + lifetime has passed, the next push (another grant's deletion) prunes the entry.
  const prunable = (cutoff + LIFETIME + 1) * 1000;
  const b = await issuedGrant('next');
  await new Promise((r) => setTimeout(r, Math.max(0, prunable - Date.now())));
  await deleteGrant('next');
  const held = await heldRevocations();
  expect(held[a.key]).toBeUndefined();
  expect(held[b.key]).toBeDefined();
  // Refused without its entry: its own exp. nats-server answers an expired JWT with the same
  // "Authorization Violation" (the reason is in its log); the JWT shows why.
  expect(decodeJwt(a.jwt).exp! * 1000).toBeLessThan(Date.now());
  expect(String(await connectAs(a.jwt, a.seed).catch((e: Error) => e))).toMatch(/authorization violation/i);
  console.log(`grant deletion → entry pushed → pruned after ${LIFETIME} s lifetime → still refused: ${Date.now() - t0} ms`);
}, 60_000);
