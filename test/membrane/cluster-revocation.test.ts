/**
 * The membrane on a NATS cluster: the controller pushes the account JWT (with its revocation
 * list) to one server, and every server enforces it — a revoked grantee connected to another
 * member is refused, can connect to no member, and stays refused by a member that was killed
 * and restarted (its resolver dir and its peers hold the pushed JWT, not the preloaded one).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/transport-node';
import { callProvider, type CallError } from '../../client/call.js';
import { connectError, connectNats } from '../../client/nats.js';
import { formatCreds } from '../../client/creds.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { startMembraneNatsCluster, type MembraneNatsCluster } from '../support/nats.js';
import { NS, buildProviders, makeHost, stopAllHosts, text } from '../host/helpers.js';

let cluster: MembraneNatsCluster;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  buildProviders();
  cluster = await startMembraneNatsCluster(3);
  const capid = 'gantry:echo';
  await makeHost(cluster.urls[0], {
    provider: 'echo-m',
    instance: 'echo-m-0',
    expectedCapid: capid,
    nats: {
      servers: cluster.urls.join(','),
      credsFile: cluster.hostCreds({ namespace: NS, provider: 'echo-m', instance: 'echo-m-0', capid }),
    },
  }).start();
});

afterAll(async () => {
  await stopAllHosts();
  await Promise.all(conns.map((c) => c.close().catch(() => {})));
  await cluster?.stop();
});

function grantee(): { key: string; creds: string } {
  const kp = createUser();
  const { jwt } = cluster.authority.mintUser('grantee', (k) => granteePermissions(k, NS, { provider: 'echo-m' }, ['Echo']), {
    userKey: kp.getPublicKey(),
  });
  return { key: kp.getPublicKey(), creds: cluster.writeCreds('grantee', formatCreds(jwt, new TextDecoder().decode(kp.getSeed()))) };
}

/** How a fresh connection of `creds` to server i alone ends: 'connected' or its NatsConnectError code. */
async function connectTo(i: number, creds: string): Promise<string> {
  try {
    const nc = await connectNats({ servers: cluster.urls[i], credsFile: creds, connectTimeoutMs: 5000 });
    await nc.close();
    return 'connected';
  } catch (e) {
    return connectError(e, { servers: cluster.urls[i] }).code;
  }
}

it('a revocation pushed to one server is enforced by every server, and by a server restarted after it', async () => {
  const g = grantee();
  const nc = await connectNats({ servers: cluster.urls[2], credsFile: g.creds });
  conns.push(nc);
  expect(
    text((await callProvider(nc, { namespace: NS, provider: 'echo-m', op: 'Echo', data: 'granted', timeoutMs: 5000, retry: 5 })).reply),
  ).toBe('granted');
  expect(await connectTo(1, g.creds)).toBe('connected');

  cluster.authority.revoke(g.key);
  await cluster.authority.pushAccount([cluster.urls[0]]);

  // the connection on server 3 is closed for the revoked credentials: every call is FORBIDDEN
  let code = '';
  for (let i = 0; i < 100 && code !== 'FORBIDDEN'; i++) {
    code = await callProvider(nc, { namespace: NS, provider: 'echo-m', op: 'Echo', data: 'x', timeoutMs: 2000 }).then(
      () => 'OK',
      (e: CallError) => e.code,
    );
    if (code !== 'FORBIDDEN') await new Promise((r) => setTimeout(r, 100));
  }
  expect(code).toBe('FORBIDDEN');
  for (const i of [0, 1, 2]) expect(await connectTo(i, g.creds), `server ${i + 1}`).toBe('NATS_AUTH_FAILED');

  // a server killed and restarted from its own config (which preloads the account as it was
  // before the revocation) keeps refusing
  await cluster.kill(1);
  await cluster.restart(1);
  expect(await connectTo(1, g.creds)).toBe('NATS_AUTH_FAILED');
  // and a grantee that was never revoked still gets in everywhere
  const other = grantee();
  for (const i of [0, 1, 2]) expect(await connectTo(i, other.creds), `server ${i + 1}`).toBe('connected');
});
