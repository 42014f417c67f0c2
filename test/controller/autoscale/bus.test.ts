/**
 * The controller's bus connection (controller/bus.ts) against real nats-servers: with the
 * membrane its own minted user reads every host's load reports and keeps reading after its JWT
 * was renewed and the first one expired (the server cuts a connection whose JWT expires);
 * without it, a plain --nats URL. What it may not do under the membrane is the membrane's
 * test (test/membrane/permissions.test.ts, controllerBusPermissions).
 */
import { connect, jwtAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLoadReport, loadSubject } from '../../../client/load.js';
import { inboxPrefix } from '../../../client/protocol.js';
import { LoadStore } from '../../../controller/autoscale/load-store.js';
import { connectControllerBus } from '../../../controller/bus.js';
import { hostPermissions } from '../../../membrane/permissions.js';
import { logger } from '../../../runtime/log.js';
import { type MembraneNats, type NatsServer, startMembraneNats, startNats } from '../../support/nats.js';
import { waitFor } from '../cluster.js';

const log = logger('bus-test');
let seq = 0;
const publishReport = (nc: NatsConnection, instance: string, inFlight: number) =>
  nc.publish(
    loadSubject('apps', 'echo', instance),
    encodeLoadReport({ v: 1, instance, at: Date.now() + seq++, startedAt: 1, calls: 0, overloaded: 0, inFlight, busyMs: 0, serving: true }),
  );

describe('with the membrane', () => {
  let nats: MembraneNats;
  let host: NatsConnection;
  beforeAll(async () => {
    nats = await startMembraneNats();
    const u = nats.authority.mintUser('host', (k) => hostPermissions(k, { namespace: 'apps', provider: 'echo', instance: 'echo-1' }));
    host = await connect({
      servers: nats.url,
      inboxPrefix: inboxPrefix(u.userKey),
      authenticator: jwtAuthenticator(u.jwt, new TextEncoder().encode(u.seed!)),
    });
  });
  afterAll(async () => {
    await host?.close();
    await nats?.stop();
  });

  it('reads the hosts’ reports as its own user, and still does after its JWT was renewed and the first one expired', async () => {
    const store = new LoadStore(60_000);
    const results: string[] = [];
    const bus = await connectControllerBus({
      membrane: { authority: nats.authority, servers: nats.url },
      jwtLifetimeMs: 3000,
      log,
      store,
      counted: (r) => results.push(r),
    });
    try {
      expect(bus.userKey).toMatch(/^U[A-Z2-7]{55}$/);
      publishReport(host, 'echo-1', 3);
      await waitFor('the first report', async () => store.figures('apps', 'echo')?.inFlight === 3);
      // the first JWT lives 3 s; the server closes the connection then, and the client comes back with the renewed one
      let reconnected = false;
      (async () => {
        for await (const s of bus.nc.status()) if (s.type === 'reconnect') reconnected = true;
      })();
      await waitFor('a reconnect after the first JWT expired', async () => reconnected, 10_000);
      publishReport(host, 'echo-1', 5);
      await waitFor('a report after the renewal', async () => results.filter((r) => r === 'recorded').length === 2, 10_000);
    } finally {
      await bus.close();
    }
  }, 30_000);
});

describe('without the membrane (--nats)', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('connects plainly and reads the reports; a malformed one is counted, not a crash', async () => {
    const store = new LoadStore(60_000);
    const results: string[] = [];
    const bus = await connectControllerBus({ servers: nats.url, log, store, counted: (r) => results.push(r) });
    const pub = await connect({ servers: nats.url });
    try {
      pub.publish(
        'gantry.%ZZ.load.echo.echo-1',
        encodeLoadReport({ v: 1, instance: 'echo-1', at: 1, startedAt: 1, calls: 0, overloaded: 0, inFlight: 0, busyMs: 0, serving: true }),
      );
      pub.publish(loadSubject('apps', 'echo', 'echo-1'), new TextEncoder().encode('nonsense'));
      publishReport(pub, 'echo-1', 2);
      await waitFor('the report', async () => store.figures('apps', 'echo')?.inFlight === 2);
      expect(results).toEqual(['malformed', 'malformed', 'recorded']);
    } finally {
      await pub.close();
      await bus.close();
    }
  });

  it('says which bus it cannot reach', async () => {
    await expect(connectControllerBus({ servers: 'nats://127.0.0.1:1', log, store: new LoadStore(6000) })).rejects.toThrow(
      'cannot connect to the bus at nats://127.0.0.1:1',
    );
  });

  it('refuses to start with neither the membrane nor a URL', async () => {
    await expect(connectControllerBus({ log, store: new LoadStore(6000) })).rejects.toThrow('neither the membrane nor --nats');
  });
});
