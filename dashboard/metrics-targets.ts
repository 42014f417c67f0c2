/**
 * Where the dashboard reads the agents' call metrics, and with whose rights:
 *
 * - URLs (`--metrics URL`, or the local sandbox's agents): plain GETs on loopback;
 * - in a cluster, each agent pod through the API server's pod proxy
 *   (`/api/v1/namespaces/gantry-system/pods/<pod>:9091/proxy/metrics`), with the user's own
 *   credentials — a user without `pods/proxy` (or `pods` list) gets Forbidden, not figures.
 */
import http from 'node:http';
import https from 'node:https';
import type { Loose } from './state.js';
import { KubeApiError, type KubeClient, type KubeConfig } from '../runtime/kube.js';

export interface MetricsTarget {
  name: string;
  /** The target's text exposition; throws KubeApiError (code 403 …) or a plain Error. */
  read(): Promise<string>;
}

/** Lists the targets to scrape now (pods come and go). */
export type MetricsTargets = () => Promise<MetricsTarget[]>;

const MAX_BYTES = 8 * 1024 * 1024;
const TIMEOUT_MS = 5000;

export function urlTargets(urls: { name: string; url: string }[]): MetricsTargets {
  const targets = urls.map((u) => ({
    name: u.name,
    async read() {
      const res = await fetch(u.url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!res.ok) throw new Error(`${u.url}: HTTP ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_BYTES) throw new Error(`${u.url}: more than ${MAX_BYTES} bytes`);
      return text;
    },
  }));
  return async () => targets;
}

export const AGENT_NAMESPACE = 'gantry-system';
/** deploy/base/agent.yaml's pod label and metrics port. */
export const AGENT_SELECTOR = 'app.kubernetes.io/name=gantry-agent';
export const AGENT_METRICS_PORT = 9091;

/** The agent pods, each read through the API server's pod proxy as the user. */
export function podProxyTargets(kube: KubeClient): MetricsTargets {
  return async () => {
    const pods = await kube.list(`/api/v1/namespaces/${AGENT_NAMESPACE}/pods`, { labelSelector: AGENT_SELECTOR });
    return pods.items
      .filter((p: Loose) => p.status?.phase === 'Running')
      .map((p: Loose) => ({
        name: `agent-${p.spec?.nodeName ?? p.metadata.name}`,
        read: () =>
          getText(
            kube.kubeConfig,
            `/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${encodeURIComponent(p.metadata.name)}:${AGENT_METRICS_PORT}/proxy/metrics`,
          ),
      }));
  };
}

/**
 * A GET whose reply is text, with the kubeconfig's credentials: KubeClient speaks JSON only.
 * A non-2xx reply throws KubeApiError with the API's Status, as KubeClient does.
 */
export async function getText(kc: KubeConfig, path: string): Promise<string> {
  const o: Loose = {};
  await kc.applyToHTTPSOptions(o);
  const server = new URL(kc.getCurrentCluster()!.server);
  const u = new URL(server.origin + server.pathname.replace(/\/$/, '') + path);
  const headers: Record<string, string> = { Accept: 'text/plain, */*' };
  for (const [k, v] of Object.entries(o.headers ?? {})) headers[k] = String(v);
  if (o.auth) headers.Authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method: 'GET', headers, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BYTES) req.destroy(new Error(`more than ${MAX_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) return resolve(text);
          let status: Loose;
          try {
            status = JSON.parse(text);
          } catch {}
          reject(new KubeApiError(`GET ${path}: ${status?.message ?? `HTTP ${code}`}`, code, status?.reason ?? `HTTP${code}`, status));
        });
      },
    );
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('request timed out')));
    req.on('error', (err) =>
      reject(err instanceof KubeApiError ? err : new KubeApiError(`GET ${path}: ${err.message}`, 0, 'TransportError')),
    );
    req.end();
  });
}
