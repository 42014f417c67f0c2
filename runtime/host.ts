/**
 * What Gantry's local tooling (sandbox launcher, tests, benchmarks) needs from the machine it
 * runs on: executables — Debian puts servers such as nats-server in sbin, which a user's
 * PATH often lacks — and free loopback ports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { GantryError } from './errors.js';

export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The executable's path, or an error naming the Debian package that provides it. */
export function requireExecutable(name: string, debianPackage: string): string {
  const p = findExecutable(name);
  if (!p)
    throw new GantryError('MISSING_EXECUTABLE', `${name} not found: install the Debian package ${debianPackage} (scripts/setup.sh does)`);
  return p;
}

/** Bind `port` on 127.0.0.1 (0 = let the kernel choose) and give it back; undefined if taken. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const a = srv.address();
      const p = typeof a === 'object' && a ? a.port : undefined;
      srv.close(() => resolve(p));
    });
  });
}

/** A free TCP port on 127.0.0.1, outside the kernel's range for outgoing connections when it can be. */
export async function freePort(): Promise<number> {
  // Below the kernel's ephemeral range: a port handed out for a server that binds it a moment
  // later (kube-apiserver after etcd is up) is otherwise taken, now and then, as the local port
  // of some outgoing connection in between ("bind: address already in use").
  const below = ephemeralStart();
  // Never the same port twice in one process: three ports asked for in a row (etcd's client and
  // peer ports, then the apiserver's) are all free when probed, so only this tells them apart.
  for (let i = 0; below > LISTEN_PORTS_FROM + 1000 && i < 20; i++) {
    const p = await probe(LISTEN_PORTS_FROM + Math.floor(Math.random() * Math.min(below - LISTEN_PORTS_FROM, LISTEN_PORTS_SPAN)));
    if (p && !handedOut.has(p)) return handOut(p);
  }
  for (let i = 0; i < 20; i++) {
    const p = await probe(0);
    if (p && !handedOut.has(p)) return handOut(p);
  }
  throw new GantryError('NO_FREE_PORT', 'no free loopback port');
}

const handedOut = new Set<number>();
function handOut(port: number): number {
  handedOut.add(port);
  return port;
}

/** Where freePort looks first: [15000, 15000 + 12000), kept below 32379 (scripts/cluster's etcd ports). */
const LISTEN_PORTS_FROM = 15_000;
const LISTEN_PORTS_SPAN = 12_000;

/** The first port the kernel hands to outgoing connections (Linux default 32768). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) ? first : 0;
  } catch {
    return 0; // not Linux: let the kernel choose
  }
}

export async function portIsFree(port: number): Promise<boolean> {
  return (await probe(port)) === port;
}

/** Resolve when a TCP connect to host:port succeeds, or reject after timeoutMs. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
