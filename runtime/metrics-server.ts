/**
 * The small HTTP server every long-running Gantry process (controller, node agent) exposes
 * to Prometheus and the kubelet on `--metrics-addr HOST:PORT`:
 *
 *   /metrics  the process's own prom-client Registry (never the global one, so two
 *             components can share a process in tests)
 *   /healthz  liveness: 200 while `live()` holds (default: the process answers at all)
 *   /readyz   readiness: 200 while `ready()` holds, else 503 with the reason as the body
 *
 * Each check returns `true` or the reason it fails, so a person curling the probe sees why.
 *
 * Usage:
 *   const server = await serveMetrics('127.0.0.1:9091', registry, { ready: () => synced || 'caches not synced' });
 *   … server.url …
 *   await server.close();
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import { UsageError } from './errors.js';

/** `true` when the check passes, else a short reason for the probe's body. */
export type HealthCheck = () => true | string;

export interface HealthChecks {
  ready: HealthCheck;
  live?: HealthCheck;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** HOST:PORT (IPv6 hosts in brackets; a bare `:PORT` or `PORT` means 127.0.0.1). */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const text = i >= 0 ? addr.slice(i + 1) : addr;
  const port = Number(text);
  // digits only: Number('') is 0, and 'host:' must not quietly mean "any free port"
  if (!/^[0-9]{1,5}$/.test(text) || port > 65535) throw new UsageError('BAD_LISTEN_ADDR', `--metrics-addr ${addr}: expected HOST:PORT`);
  return { host, port };
}

/** Serves /metrics, /healthz and /readyz on ADDR (host:port) until close(). */
export async function serveMetrics(addr: string, registry: Registry, checks: HealthChecks): Promise<MetricsServer> {
  const { host, port } = parseListenAddr(addr);
  const probe = (res: http.ServerResponse, check: HealthCheck) => {
    let r: true | string;
    try {
      r = check();
    } catch (err) {
      r = `check failed: ${(err as Error).message}`;
    }
    res.writeHead(r === true ? 200 : 503, { 'Content-Type': 'text/plain' }).end(r === true ? 'ok\n' : `${r}\n`);
  };
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      try {
        const body = await registry.metrics();
        res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`collecting metrics failed: ${(err as Error).message}\n`);
      }
    } else if (path === '/healthz') probe(res, checks.live ?? (() => true));
    else if (path === '/readyz') probe(res, checks.ready);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
