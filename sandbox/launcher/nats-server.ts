/**
 * The sandbox's NATS: the Debian `nats-server` on fixed loopback ports (kept across resumes, so
 * callers' URLs stay valid), config in DIR/nats/, log in DIR/logs/nats.log. In operator mode
 * (the membrane) with the full resolver, its account JWTs kept in DIR/nats/jwt/.
 *
 * With `--nats-servers N` (N > 1) it is a NATS cluster of N servers on loopback, as deploy/
 * runs in a cluster: server i has its own config and resolver dir (DIR/nats/<i>/), a client
 * port and a route port, and routes to every other member. Each runs the same operator, system
 * account and preloads; the full resolvers replicate an account JWT pushed to any one member
 * (the controller's revocations) to the others over the routes.
 *
 * With `tls` (the sandbox always gives it: DIR/nats/tls/, signed by the sandbox's bus CA in
 * DIR/bus-ca/) clients must speak TLS and routes are mutual TLS, as deploy/ runs them
 * (membrane/bus-tls.ts); the URLs are then tls://.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BusTlsFiles, natsClientTlsConfig, natsRouteTlsConfig } from '../../membrane/bus-tls.js';
import { requireExecutable } from './host.js';
import { ManagedProcess, type ManagedProcessOptions } from './managed-process.js';

export interface NatsServerOptions {
  dir: string;
  port: number;
  logFile: string;
  onUnexpectedExit?: ManagedProcessOptions['onUnexpectedExit'];
  /** Configuration appended to the listen address (the membrane's operator-mode fragment). */
  extraConfig?: string;
  group?: ManagedProcessOptions['group'];
  /** The process's name among the sandbox's children (default `nats-server`). */
  name?: string;
  /** As a member of a cluster: its own route port and every member's route port (its own included). */
  cluster?: { name: string; routePort: number; routePorts: number[] };
  /** The server's certificate, key and CA: TLS required of clients, mutual TLS on routes. */
  tls?: BusTlsFiles;
}

export async function startNatsServer(o: NatsServerOptions): Promise<{ url: string; process: ManagedProcess }> {
  const bin = requireExecutable('nats-server', 'nats-server');
  const conf = join(o.dir, 'nats.conf');
  const name = o.name ?? 'nats-server';
  const cluster = o.cluster
    ? [
        `server_name: ${name}`,
        'cluster {',
        `  name: ${o.cluster.name}`,
        `  listen: 127.0.0.1:${o.cluster.routePort}`,
        `  routes: [${o.cluster.routePorts
          .filter((p) => p !== o.cluster!.routePort)
          .map((p) => `nats-route://127.0.0.1:${p}`)
          .join(', ')}]`,
        ...(o.tls ? [natsRouteTlsConfig(o.tls)] : []),
        '}',
        '',
      ].join('\n')
    : '';
  const tls = o.tls ? natsClientTlsConfig(o.tls) : '';
  writeFileSync(conf, `listen: 127.0.0.1:${o.port}\nmax_payload: 8MB\n${tls}${cluster}${o.extraConfig ?? ''}`, { mode: 0o600 });
  const proc = new ManagedProcess({
    name,
    command: bin,
    args: ['-c', conf],
    logFile: o.logFile,
    port: o.port,
    onUnexpectedExit: o.onUnexpectedExit,
    group: o.group,
  });
  await proc.start();
  return { url: `${o.tls ? 'tls' : 'nats'}://127.0.0.1:${o.port}`, process: proc };
}

export interface NatsClusterOptions {
  /** DIR/nats: server i (1-based) keeps its config and resolver dir in DIR/nats/<i>/ (server 1 of a single server: DIR/nats/). */
  dir: string;
  /** Client ports, one per server; more than one makes a cluster. */
  ports: number[];
  /** Route ports, one per server (cluster only). */
  routePorts?: number[];
  /** The log file of server i (1-based). */
  logFile: (i: number) => string;
  /** The operator-mode fragment for a server whose resolver dir is `resolverDir`. */
  serverConfig: (resolverDir: string) => string;
  onUnexpectedExit?: ManagedProcessOptions['onUnexpectedExit'];
  group?: ManagedProcessOptions['group'];
  /** Every server's certificate (one for all: it names 127.0.0.1), key and CA. */
  tls?: BusTlsFiles;
}

/** Start one server, or a cluster of `ports.length` servers (all at once: each waits only for its own port). */
export async function startNatsCluster(o: NatsClusterOptions): Promise<{ urls: string[]; processes: ManagedProcess[] }> {
  const n = o.ports.length;
  if (n > 1 && o.routePorts?.length !== n) throw new Error(`a NATS cluster of ${n} servers needs ${n} route ports`);
  const started = await Promise.all(
    o.ports.map((port, k) => {
      const i = k + 1;
      const dir = n === 1 ? o.dir : join(o.dir, String(i));
      const resolverDir = join(dir, 'jwt');
      mkdirSync(resolverDir, { recursive: true, mode: 0o700 });
      return startNatsServer({
        dir,
        port,
        logFile: o.logFile(i),
        onUnexpectedExit: o.onUnexpectedExit,
        group: o.group,
        name: i === 1 ? 'nats-server' : `nats-server-${i}`,
        extraConfig: o.serverConfig(resolverDir),
        tls: o.tls,
        cluster: n > 1 ? { name: 'gantry', routePort: o.routePorts![k], routePorts: o.routePorts! } : undefined,
      });
    }),
  );
  return { urls: started.map((s) => s.url), processes: started.map((s) => s.process) };
}
