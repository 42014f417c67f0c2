/**
 * `gantry dashboard`: a live, read-only web page of the cluster as the user sees it (docs/dashboard.md).
 *
 *   const d = await startDashboard({ kubeConfig: kc, port: 7070 });
 *   console.log(d.url);  // http://127.0.0.1:7070/
 *   await d.stop();
 *
 * Everything is read with the kubeconfig's own credentials: the dashboard has no rights of its
 * own, and what the user may not read shows as unavailable.
 */
import http from 'node:http';
import { UsageError } from '../runtime/errors.js';
import { KubeClient, type KubeConfig } from '../runtime/kube.js';
import { EventHub } from './events.js';
import { isLoopbackAddress } from './guards.js';
import { type MetricsTargets, podProxyTargets, urlTargets } from './metrics-targets.js';
import type { DashboardState } from './model.js';
import { dashboardHandler } from './server.js';
import { ClusterSource } from './source.js';

export type { DashboardState } from './model.js';

export interface DashboardOptions {
  kubeConfig: KubeConfig;
  /** Default 7070; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1; any other address needs `addressExplicit` (a person asked for it). */
  address?: string;
  addressExplicit?: boolean;
  /** Host names the page may be reached by besides loopback names and IP literals (--allowed-host). */
  allowedHosts?: string[];
  namespace?: string;
  /** Metrics URLs to scrape (--metrics, or the sandbox's agents); absent: the agent pods through the API server's proxy. */
  metricsUrls?: { name: string; url: string }[];
  scrapeIntervalMs?: number;
  /** How often a part the user could not read is tried again (default 15 s). */
  retryMs?: number;
  /** Least time between two `state` events (default 250 ms). */
  minEventGapMs?: number;
}

export interface Dashboard {
  url: string;
  port: number;
  state(): DashboardState;
  stop(): Promise<void>;
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const address = o.address ?? '127.0.0.1';
  const port = o.port ?? 7070;
  if (!isLoopbackAddress(address) && !o.addressExplicit) {
    throw new UsageError(
      'DASHBOARD_ADDRESS_NOT_LOCAL',
      `${address} is not a loopback address: pass --address ${address} to serve beyond this machine`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('DASHBOARD_BAD_PORT', `--port ${port}: expected 0…65535`);
  const kube = new KubeClient(o.kubeConfig);
  const metrics: MetricsTargets = o.metricsUrls?.length ? urlTargets(o.metricsUrls) : podProxyTargets(kube);
  const state = () => JSON.stringify(source.snapshot());
  const events = new EventHub({ state, minGapMs: o.minEventGapMs });
  const source = new ClusterSource({
    kube,
    namespace: o.namespace,
    metrics,
    onChange: () => events.changed(),
    scrapeIntervalMs: o.scrapeIntervalMs,
    retryMs: o.retryMs,
  });
  const server = http.createServer(dashboardHandler({ state, events, allowedHosts: o.allowedHosts }));
  const closeAll = async () => {
    events.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await source.stop();
    kube.close();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    kube.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new UsageError('DASHBOARD_PORT_IN_USE', `port ${port} on ${address} is in use: pass --port with a free one`);
    if (code === 'EADDRNOTAVAIL') throw new UsageError('DASHBOARD_BAD_ADDRESS', `--address ${address}: not an address of this machine`);
    throw err;
  }
  try {
    await source.start();
  } catch (err) {
    await closeAll();
    throw err;
  }
  const bound = (server.address() as { port: number }).port;
  const host = address.includes(':') ? `[${address}]` : address === '0.0.0.0' ? '127.0.0.1' : address;
  return { url: `http://${host}:${bound}/`, port: bound, state: () => source.snapshot(), stop: closeAll };
}
