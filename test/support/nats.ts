/**
 * Start a real nats-server (Debian package) on a free loopback port for one test file; with
 * `startMembraneNats`, in operator mode with the full resolver (the membrane), as the sandbox
 * and deploy/ run it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { requireBinary } from './binaries.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { adminPermissions, hostPermissions, type HostIdentity } from '../../membrane/permissions.js';

export interface NatsServer {
  url: string;
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** `port` reuses a port (e.g. to restart a server where its clients will reconnect); default a free one. */
export async function startNats(
  opts: { config?: string | ((dir: string) => string); maxPayload?: number; port?: number; dir?: string } = {},
): Promise<NatsServer> {
  const bin = requireBinary('nats-server', 'nats-server');
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gantry-nats-'));
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${port}\n` +
      (opts.maxPayload ? `max_payload: ${opts.maxPayload}\n` : '') +
      (typeof opts.config === 'function' ? opts.config(dir) : (opts.config ?? '')),
  );
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  try {
    await waitForPort(port);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`nats-server did not start: ${(e as Error).message}\n${stderr}`);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface MembraneNats extends NatsServer {
  authority: MembraneAuthority;
  /** A file holding the admin user's .creds (may call anything: the tests' operator tool). */
  adminCreds: string;
  /** Write a .creds file for the host of one instance; returns its path. */
  hostCreds(h: HostIdentity): string;
  /** Write any .creds content to a file in the server's dir; returns its path. */
  writeCreds(name: string, creds: string): string;
}

/** nats-server in operator mode with the full resolver, and a fresh authority that signs for it. */
export async function startMembraneNats(
  opts: { maxPayload?: number; port?: number; authority?: MembraneAuthority } = {},
): Promise<MembraneNats> {
  const authority = opts.authority ?? MembraneAuthority.generate();
  const s = await startNats({
    ...opts,
    config: (dir) => {
      mkdirSync(join(dir, 'jwt'), { recursive: true });
      return authority.serverConfig(join(dir, 'jwt'));
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'gantry-creds-'));
  let n = 0;
  const writeCreds = (name: string, creds: string) => {
    const f = join(dir, `${n++}-${name.replace(/[^\w.-]/g, '_')}.creds`);
    writeFileSync(f, creds, { mode: 0o600 });
    return f;
  };
  const adminCreds = writeCreds('admin', authority.mintUser('test-admin', adminPermissions).creds!);
  return {
    ...s,
    authority,
    adminCreds,
    writeCreds,
    hostCreds: (h) =>
      writeCreds(`host-${h.instance}`, authority.mintUser(`host-${h.namespace}-${h.instance}`, (k) => hostPermissions(k, h)).creds!),
    async stop() {
      await authority.close();
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface MembraneNatsCluster {
  authority: MembraneAuthority;
  /** Client URLs, one per server, in start order. */
  urls: string[];
  adminCreds: string;
  writeCreds(name: string, creds: string): string;
  hostCreds(h: HostIdentity): string;
  /** Kill server i (0-based) with SIGKILL, as a crash would; resolves once it is gone. */
  kill(i: number): Promise<void>;
  /** Start server i again on its ports (after kill). */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A NATS cluster of `n` real nats-servers with routes on loopback, each in operator mode with
 * the same authority (the sandbox's launcher code: sandbox/launcher/nats-server.ts).
 */
export async function startMembraneNatsCluster(n = 3): Promise<MembraneNatsCluster> {
  const { startNatsCluster } = await import('../../sandbox/launcher/nats-server.js');
  const authority = MembraneAuthority.generate();
  const dir = mkdtempSync(join(tmpdir(), 'gantry-nats-cluster-'));
  const ports: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < n; i++) {
    ports.push(await freePort());
    routePorts.push(await freePort());
  }
  const cluster = await startNatsCluster({
    dir,
    ports,
    routePorts,
    logFile: (i) => join(dir, `nats-${i}.log`),
    serverConfig: (r) => authority.serverConfig(r),
  });
  let k = 0;
  const writeCreds = (name: string, creds: string) => {
    const f = join(dir, `${k++}-${name.replace(/[^\w.-]/g, '_')}.creds`);
    writeFileSync(f, creds, { mode: 0o600 });
    return f;
  };
  return {
    authority,
    urls: cluster.urls,
    adminCreds: writeCreds('admin', authority.mintUser('test-admin', adminPermissions).creds!),
    writeCreds,
    hostCreds: (h) =>
      writeCreds(`host-${h.instance}`, authority.mintUser(`host-${h.namespace}-${h.instance}`, (key) => hostPermissions(key, h)).creds!),
    async kill(i) {
      const p = cluster.processes[i];
      const pid = p.pid;
      if (!p.running || pid === undefined) return;
      process.kill(pid, 'SIGKILL');
      for (let t = 0; p.running && t < 200; t++) await new Promise((r) => setTimeout(r, 25));
    },
    async restart(i) {
      await cluster.processes[i].start();
    },
    async stop() {
      await authority.close();
      await Promise.all(cluster.processes.map((p) => p.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
