/**
 * Real nats-servers for the bus-encryption tests: members of a cluster configured exactly as
 * the sandbox and deploy/ configure them (membrane/bus-tls.ts's blocks, a certificate from
 * membrane/bus-pki.ts), and rogue servers that try to route into them. Each server logs to a
 * file the test reads, and serves monitoring on loopback so a test can ask it for its routes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BusTlsFiles, natsClientTlsConfig, natsRouteTlsConfig } from '../../membrane/bus-tls.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { freePort } from '../support/ports.js';

export interface BusServer extends NatsServer {
  name: string;
  routePort: number;
  monitorPort: number;
  logFile: string;
  log(): string;
  /** The number of routes the server has now (its /routez). */
  routes(): Promise<number>;
}

export interface BusServerOptions {
  name: string;
  logDir: string;
  port?: number;
  routePort?: number;
  /** Route ports it dials. */
  routesTo: number[];
  /** TLS required of clients (the Gantry servers). */
  clientTls?: BusTlsFiles;
  /** Mutual TLS on routes with these files; `raw` is any other cluster tls block (a rogue's). */
  routeTls?: BusTlsFiles | { raw: string };
}

export async function startBusServer(o: BusServerOptions): Promise<BusServer> {
  const routePort = o.routePort ?? (await freePort());
  const monitorPort = await freePort();
  const logFile = join(o.logDir, `${o.name}.log`);
  const routeTls = !o.routeTls ? '' : 'raw' in o.routeTls ? o.routeTls.raw : natsRouteTlsConfig(o.routeTls);
  const s = await startNats({
    port: o.port,
    config: [
      `server_name: ${o.name}`,
      `http: 127.0.0.1:${monitorPort}`,
      `log_file: ${JSON.stringify(logFile)}`,
      o.clientTls ? natsClientTlsConfig(o.clientTls) : '',
      'cluster {',
      '  name: gantry',
      `  listen: 127.0.0.1:${routePort}`,
      `  routes: [${o.routesTo.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
      routeTls,
      '}',
      '',
    ].join('\n'),
  });
  return {
    ...s,
    name: o.name,
    routePort,
    monitorPort,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
    async routes() {
      const r = await fetch(`http://127.0.0.1:${monitorPort}/routez`);
      return ((await r.json()) as { num_routes: number }).num_routes;
    },
  };
}

/** Resolves once `ready()` holds, checking every 50 ms; rejects naming `what` after `timeoutMs`. */
export async function until(what: string, ready: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
