/**
 * The external metrics API's HTTPS server: every request is authenticated as coming from the
 * Kubernetes API aggregator (auth.ts) before any answer; discovery needs only that, a metric
 * value also needs the end user the aggregator names (whose RBAC the kube-apiserver checked).
 *
 *   const api = await serveMetricsApi({ addr: '192.0.2.2:6443', certPem, keyPem, requestHeader, figures, provider });
 *   api.url; await api.close();
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { ProviderFiguresSource } from '../autoscale/contract.js';
import type { Logger } from '../../runtime/log.js';
import { UsageError } from '../../runtime/errors.js';
import { parseListenAddr } from '../../runtime/metrics-server.js';
import { authenticate } from './auth.js';
import type { RequestHeaderConfig } from './request-header.js';
import { type Answer, discovery, isMetricPath, metricValue, type ProviderLookup, status } from './routes.js';

export interface MetricsApiOptions {
  /** HOST:PORT to listen on; the aggregator reaches it through a Service's endpoints, which may not be loopback. */
  addr: string;
  certPem: string;
  keyPem: string;
  requestHeader: RequestHeaderConfig;
  figures: ProviderFiguresSource;
  provider: ProviderLookup;
  log?: Logger;
  now?: () => number;
}

export interface MetricsApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** HOST:PORT, or a usage error naming --metrics-api-addr. */
export function metricsApiListenAddr(addr: string): { host: string; port: number } {
  try {
    return parseListenAddr(addr);
  } catch {
    throw new UsageError('BAD_LISTEN_ADDR', `--metrics-api-addr ${addr}: expected HOST:PORT`);
  }
}

/** The answer to one request, authentication first. */
function answer(req: import('node:http').IncomingMessage, o: MetricsApiOptions): Answer {
  const auth = authenticate(req.socket as TLSSocket, req.headers, o.requestHeader);
  if (!auth.ok) {
    o.log?.warn({ reason: auth.reason, path: req.url }, 'metrics API: request refused');
    return status(auth.reason === 'ProxyNameNotAllowed' ? 403 : 401, auth.message);
  }
  if (req.method !== 'GET') return status(405, `${req.method} is not allowed: the external metrics API is read-only`);
  const url = new URL(req.url ?? '/', 'https://metrics-api');
  const found = discovery(url.pathname);
  if (found) return found;
  if (!isMetricPath(url.pathname)) return status(404, `no such path: ${url.pathname}`);
  if (!auth.caller) return status(401, `no user: the aggregator names the caller in ${o.requestHeader.usernameHeaders.join(' or ')}`);
  return metricValue(url.pathname, url.searchParams.get('labelSelector'), {
    figures: o.figures,
    provider: o.provider,
    now: o.now ?? Date.now,
  });
}

export async function serveMetricsApi(o: MetricsApiOptions): Promise<MetricsApiServer> {
  const { host, port } = metricsApiListenAddr(o.addr);
  // requestCert without rejectUnauthorized: the handshake completes so a refused client gets a
  // Status saying why; authenticate() refuses every request whose certificate did not verify
  const server = https.createServer(
    { cert: o.certPem, key: o.keyPem, ca: o.requestHeader.clientCaPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      let a: Answer;
      try {
        a = answer(req, o);
      } catch (err) {
        o.log?.error({ err: (err as Error).message }, 'metrics API: request failed');
        a = {
          status: 500,
          body: {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: 'internal error',
            reason: 'InternalError',
            code: 500,
          },
        };
      }
      res.writeHead(a.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(a.body));
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as { port: number }).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `https://${urlHost}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
