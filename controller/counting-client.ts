/**
 * The controller's Kubernetes client counts what it asks of the API server, by method and
 * resource (`gantry_controller_api_requests_total`): at scale, requests are the cost that matters.
 */
import { KubeClient, type KubeConfig, type RequestOptions } from '../runtime/kube.js';
import type { ControllerMetrics } from './metrics.js';

/** `providerinstances`, `providers/status`, `events`: the resource part of an API path, a bounded label. */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [plural, , sub] = rest;
  return plural ? (sub ? `${plural}/${sub}` : plural) : 'discovery';
}

/** The controller's client counts what it asks of the API server: the cost that matters at scale. */
export class CountingClient extends KubeClient {
  // label lookups cost more than the count: one bound child per method+path (bounded)
  private readonly counters = new Map<string, { inc(): void }>();
  constructor(
    kc: KubeConfig,
    private readonly metrics: ControllerMetrics,
  ) {
    super(kc);
  }
  // biome-ignore lint/suspicious/noExplicitAny: the base class's signature
  override request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<T> {
    const key = method + path;
    let c = this.counters.get(key);
    if (!c) {
      if (this.counters.size >= 1000) this.counters.clear();
      c = this.metrics.apiRequests.labels(method, resourceOfPath(path));
      this.counters.set(key, c);
    }
    c.inc();
    return super.request<T>(method, path, opts);
  }
}
