/**
 * Rotating the NATS servers' certificate without downtime (docs/operations.md): a new
 * certificate is written over tls.crt/tls.key (as cert-manager renews a Secret, as
 * `issueNatsServerCert` re-issues), `nats-server --signal reload=<pid>` makes a real server
 * read it; connections made before keep going — a client's and the cluster's route — and new
 * connections are served the new certificate, which verifies against the same CA.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { connectNats } from '../../client/nats.js';
import { ensureBusCa, issueNatsServerCert } from '../../membrane/bus-pki.js';
import { requireBinary } from '../support/binaries.js';
import { freePort } from '../support/ports.js';
import { type BusServer, startBusServer, until } from './bus-world.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-bus-rotation-'));
const servers: BusServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** The serial number of the certificate a NATS server presents now (after its plain INFO line, as a client sees it). */
function servedSerial(port: number, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(port, '127.0.0.1');
    sock.once('error', reject);
    sock.once('data', () => {
      const t = tlsConnect({ socket: sock, ca: [readFileSync(caFile)], servername: 'localhost' }, () => {
        resolve(t.getPeerCertificate().serialNumber);
        t.destroy();
      });
      t.once('error', reject);
    });
  });
}

async function routeIds(s: BusServer): Promise<number[]> {
  const r = (await (await fetch(`http://127.0.0.1:${s.monitorPort}/routez`)).json()) as { routes: { rid: number }[] };
  return r.routes.map((x) => x.rid);
}

it('a reloaded server serves the new certificate to new connections and keeps the existing ones', async () => {
  const ca = await ensureBusCa(join(dir, 'ca'));
  const tls = await issueNatsServerCert(ca, join(dir, 'a'), ['localhost', '127.0.0.1']);
  const other = await issueNatsServerCert(ca, join(dir, 'b'), ['localhost', '127.0.0.1']);
  const [ra, rb] = [await freePort(), await freePort()];
  // one side dials: two servers dialling each other at once race to drop the duplicate route,
  // which under load kept the pair without a route for seconds (nothing this test is about)
  const [a, b] = await Promise.all([
    startBusServer({ name: 'rot-a', logDir: dir, routePort: ra, routesTo: [rb], clientTls: tls, routeTls: tls }),
    startBusServer({ name: 'rot-b', logDir: dir, routePort: rb, routesTo: [], clientTls: other, routeTls: other }),
  ]);
  servers.push(a, b);
  await until('the route', async () => (await a.routes()) === 1 && (await b.routes()) === 1);
  const routesBefore = await routeIds(a);
  const before = await servedSerial(a.port, tls.caFile);

  const old = await connectNats({ servers: a.url, tls: { caFile: tls.caFile } });
  const statuses: string[] = [];
  void (async () => {
    for await (const s of old.status()) statuses.push(s.type);
  })();
  const peer = await connectNats({ servers: b.url, tls: { caFile: tls.caFile } });
  peer.subscribe('rotation.echo', {
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
  await peer.flush();
  await until(
    'interest across the route',
    async () => (await old.request('rotation.echo', 'x', { timeout: 500 }).catch(() => null)) !== null,
  );

  await issueNatsServerCert(ca, join(dir, 'a'), ['localhost', '127.0.0.1']); // renewed in place
  await promisify(execFile)(requireBinary('nats-server', 'nats-server'), ['--signal', `reload=${a.proc.pid}`]);
  await until('the reload', () => /Reloaded server configuration/.test(a.log()));

  const after = await servedSerial(a.port, tls.caFile); // verified against the CA, or this throws
  expect(after).not.toBe(before);
  const fresh = await connectNats({ servers: a.url, tls: { caFile: tls.caFile } });
  await fresh.close();
  // the connection made before the rotation still calls across the route it used
  expect(new TextDecoder().decode((await old.request('rotation.echo', 'after', { timeout: 2000 })).data)).toBe('after');
  expect(statuses.filter((s) => s === 'disconnect' || s === 'reconnect')).toEqual([]);
  expect(await routeIds(a)).toEqual(routesBefore); // the same route connection
  await old.close();
  await peer.close();
}, 60_000);
