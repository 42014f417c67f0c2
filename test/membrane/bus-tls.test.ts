/**
 * The encrypted bus (issue 28), attacked on real parts: a two-server nats-server cluster
 * configured as deploy/ and the sandbox configure it (TLS required of clients, mutual TLS on
 * routes, a certificate from the Gantry CA), a real provider host, real callers.
 *  - an eavesdropper on the interface (tcpdump on loopback) never sees a call's payload, and
 *    every stream is TLS from its first byte, but for the server's INFO line to a client;
 *  - a client that does not trust the CA, or a server that does not offer TLS, is refused
 *    with NATS_TLS_FAILED;
 *  - a rogue server (plain, or with its own self-signed certificate) cannot route in and
 *    receives nothing, while without route TLS the same rogue joins and reads the canary.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callProvider } from '../../client/call.js';
import { connectError, connectNats } from '../../client/nats.js';
import { ensureBusCa, issueNatsServerCert } from '../../membrane/bus-pki.js';
import type { BusTlsFiles } from '../../membrane/bus-tls.js';
import { buildProviders, makeHost, NS, startError, stopAllHosts, text } from '../host/helpers.js';
import { startNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { type BusServer, startBusServer, until } from './bus-world.js';
import { captureLoopback, type TcpStream } from './pcap.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-bus-tls-'));
const servers: BusServer[] = [];
let tls: BusTlsFiles;
let rogueTls: BusTlsFiles;

beforeAll(async () => {
  buildProviders();
  tls = await issueNatsServerCert(await ensureBusCa(join(dir, 'ca')), join(dir, 'server'), ['localhost', '127.0.0.1']);
  // the rogue's own CA, which signs its own certificate: a "self-signed" server
  rogueTls = await issueNatsServerCert(await ensureBusCa(join(dir, 'rogue-ca')), join(dir, 'rogue'), ['localhost', '127.0.0.1']);
}, 60_000);

afterAll(async () => {
  await stopAllHosts();
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function server(o: Parameters<typeof startBusServer>[0]): Promise<BusServer> {
  const s = await startBusServer(o);
  servers.push(s);
  return s;
}

/** Two Gantry servers, one routing to the other, the cluster's certificate on both grounds (or none on routes). */
async function cluster(name: string, routeTls = true): Promise<[BusServer, BusServer]> {
  const [ra, rb] = [await freePort(), await freePort()];
  const common = { logDir: dir, clientTls: tls, routeTls: routeTls ? tls : undefined };
  const [a, b] = await Promise.all([
    server({ ...common, name: `${name}-a`, routePort: ra, routesTo: [rb] }),
    server({ ...common, name: `${name}-b`, routePort: rb, routesTo: [] }), // one side dials (no duplicate-route race)
  ]);
  await until(`${name}'s route`, async () => (await a.routes()) === 1 && (await b.routes()) === 1);
  return [a, b];
}

const TLS_RECORD = (b: Buffer) => b.length >= 2 && b[0] === 0x16 && b[1] === 0x03; // handshake record, TLS 1.x

describe('an eavesdropper on the interface', () => {
  it('never sees a call payload; every client stream is TLS right after INFO, every route stream from its first byte', async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const capture = await captureLoopback(join(dir, 'calls.pcap'), ports);
    const [a, b] = await Promise.all([
      server({ name: 'cap-a', logDir: dir, port: ports[0], routePort: ports[2], routesTo: [ports[3]], clientTls: tls, routeTls: tls }),
      server({ name: 'cap-b', logDir: dir, port: ports[1], routePort: ports[3], routesTo: [ports[2]], clientTls: tls, routeTls: tls }),
    ]);
    await until('the route', async () => (await a.routes()) === 1);
    const canary = `canary-${randomBytes(16).toString('hex')}`;
    // the host on one server, the caller on the other: the call crosses the route both ways
    const host = makeHost(a.url, { provider: 'echo-cap', instance: 'echo-cap-0', nats: { servers: a.url, tls: { caFile: tls.caFile } } });
    await host.start();
    const nc = await connectNats({ servers: b.url, tls: { caFile: tls.caFile } });
    try {
      await until('interest across the route', async () => {
        const r = await callProvider(nc, { namespace: NS, provider: 'echo-cap', op: 'Echo', data: 'warm-up', timeoutMs: 500 }).catch(
          () => undefined,
        );
        return r !== undefined;
      });
      for (let i = 0; i < 5; i++) {
        const r = await callProvider(nc, { namespace: NS, provider: 'echo-cap', op: 'Echo', data: `${canary}-${i}` });
        expect(text(r.reply)).toBe(`${canary}-${i}`); // the canary did travel
      }
    } finally {
      await nc.close();
      await host.stop();
    }
    const streams = await capture.stop();

    const bytes = streams.reduce((n, s) => n + s.data.length, 0);
    expect(bytes).toBeGreaterThan(5 * canary.length);
    for (const s of streams) {
      expect(s.data.includes(canary.slice(7, 23)), `${s.src}>${s.dst}`).toBe(false);
      expect(s.data.includes('warm-up'), `${s.src}>${s.dst}`).toBe(false);
    }

    const conns = new Map<string, TcpStream[]>();
    for (const s of streams) conns.set(s.conn, [...(conns.get(s.conn) ?? []), s]);
    let clients = 0,
      routes = 0;
    for (const pair of conns.values()) {
      const clientPort = pair.map((s) => s.src).find((p) => p === ports[0] || p === ports[1]);
      if (clientPort !== undefined) {
        const fromServer = pair.find((s) => s.src === clientPort)!;
        const toServer = pair.find((s) => s.dst === clientPort);
        // in the clear: the INFO line, and nothing after it
        const eol = fromServer.data.indexOf('\r\n');
        expect(fromServer.data.subarray(0, 5).toString()).toBe('INFO ');
        expect(JSON.parse(fromServer.data.subarray(5, eol).toString())).toMatchObject({ tls_required: true });
        if (!toServer) {
          // the test's own port probe (waitForPort): connects, reads the INFO line, closes
          expect(fromServer.data.length).toBe(eol + 2);
          continue;
        }
        clients++;
        expect(TLS_RECORD(fromServer.data.subarray(eol + 2))).toBe(true); // ServerHello
        expect(TLS_RECORD(toServer.data)).toBe(true); // the client's first byte: ClientHello
        expect(toServer.firstAt).toBeGreaterThanOrEqual(fromServer.firstAt);
      } else {
        routes++;
        // 2.9.10's routes: the dialing server starts TLS at once; not even an INFO in the clear
        for (const s of pair) expect(TLS_RECORD(s.data), `route ${s.src}>${s.dst}`).toBe(true);
      }
    }
    expect(clients).toBeGreaterThanOrEqual(2); // the host's and the caller's
    expect(routes).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describe('a client that does not trust the Gantry CA', () => {
  it('is refused in the handshake (NATS_TLS_FAILED), caller and provider host alike', async () => {
    const [a] = await cluster('trust');
    const plain = await connectNats({ servers: a.url, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(plain, { servers: a.url }).code).toBe('NATS_TLS_FAILED');
    expect(connectError(plain, { servers: a.url }).message).toMatch(/certificate|issuer/i);
    const other = { caFile: rogueTls.caFile };
    const wrongCa = await connectNats({ servers: a.url, tls: other, connectTimeoutMs: 3000 }).catch((e) => e);
    expect(connectError(wrongCa, { servers: a.url, tls: other }).code).toBe('NATS_TLS_FAILED');
    const host = makeHost(a.url, { provider: 'echo-untrusting', instance: 'echo-untrusting-0', nats: { servers: a.url, tls: other } });
    expect((await startError(host)).code).toBe('NATS_TLS_FAILED');
  }, 60_000);

  it('given the CA, refuses a server that does not offer TLS (an impostor in plain text) with NATS_TLS_FAILED', async () => {
    const impostor = await startNats();
    try {
      for (const o of [{ servers: impostor.url, tls: { caFile: tls.caFile } }, { servers: `tls://127.0.0.1:${impostor.port}` }]) {
        const e = await connectNats({ ...o, connectTimeoutMs: 3000 }).catch((x) => x);
        expect(connectError(e, o).code).toBe('NATS_TLS_FAILED');
        expect(connectError(e, o).message).toMatch(/does not support 'tls'/);
      }
    } finally {
      await impostor.stop();
    }
  }, 30_000);
});

describe('a rogue nats-server routing into the cluster', () => {
  /** Start a rogue routing to `target`, a subscriber on it, then publish the canary on the cluster. */
  async function attack(target: BusServer, other: BusServer, name: string, routeTls?: { raw: string }) {
    const rogue = await server({ name, logDir: dir, routesTo: [target.routePort], routeTls });
    const spy = await connectNats({ servers: rogue.url });
    const seen: string[] = [];
    const sub = spy.subscribe('>', {
      callback: (_e, m) => {
        seen.push(m.subject);
      },
    });
    await spy.flush();
    const canary = `canary.${randomBytes(8).toString('hex')}`;
    const honest = await connectNats({ servers: other.url, tls: { caFile: tls.caFile } });
    const got = honest.subscribe(canary, { max: 1 });
    await honest.flush();
    const publisher = await connectNats({ servers: target.url, tls: { caFile: tls.caFile } });
    return { rogue, spy, sub, seen, canary, honest, got, publisher };
  }

  it('without route TLS (the old deploy/), a plain rogue joins and reads the canary: the attack the test must catch', async () => {
    const [a, b] = await cluster('open', false);
    const t = await attack(a, b, 'rogue-open');
    try {
      await until('the rogue to join', async () => (await t.rogue.routes()) >= 1);
      await until('the rogue subscription to reach the cluster', async () => {
        t.publisher.publish(t.canary, 'secret');
        await t.publisher.flush();
        await t.spy.flush();
        return t.seen.includes(t.canary);
      });
      expect(t.seen).toContain(t.canary);
    } finally {
      for (const c of [t.spy, t.honest, t.publisher]) await c.close();
    }
  }, 60_000);

  it.each([
    ['plain', undefined, /TLS route handshake error: tls: first record does not look like a TLS handshake/, undefined],
    [
      'self-signed',
      'own',
      /TLS route handshake error: remote error: tls: bad certificate/,
      /TLS route handshake error: x509: certificate signed by unknown authority/,
    ],
  ] as const)(
    'a %s rogue is refused with a TLS error and receives nothing',
    async (kind, own, clusterSays, rogueSays) => {
      const [a, b] = await cluster(`mtls-${kind}`);
      const raw = own
        ? `  tls { cert_file: ${JSON.stringify(rogueTls.certFile)}, key_file: ${JSON.stringify(rogueTls.keyFile)}, ca_file: ${JSON.stringify(rogueTls.caFile)}, verify: true, timeout: 2 }\n`
        : undefined;
      const t = await attack(a, b, `rogue-${kind}`, raw ? { raw } : undefined);
      try {
        // the rogue dialled and was refused (the event the test waits for), twice over
        await until('two refused route attempts', () => (a.log().match(new RegExp(clusterSays.source, 'g')) ?? []).length >= 2);
        if (rogueSays) expect(t.rogue.log()).toMatch(rogueSays);
        t.publisher.publish(t.canary, 'secret');
        await t.publisher.flush();
        // the honest subscriber across the cluster's own route has it: the canary was routed
        for await (const m of t.got) expect(text(m.data)).toBe('secret');
        await t.spy.flush();
        expect(await t.rogue.routes()).toBe(0);
        expect(await a.routes()).toBe(1); // its one route: the other Gantry server
        expect(t.seen).toEqual([]);
      } finally {
        for (const c of [t.spy, t.honest, t.publisher]) await c.close();
      }
    },
    60_000,
  );
});
