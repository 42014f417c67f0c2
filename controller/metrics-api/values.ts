/**
 * What the external metrics API answers: which metrics exist, how a label selector names the
 * Provider, and a figure as a Kubernetes quantity. Pure functions, so each refusal is tested
 * on its own.
 */
import type { ProviderFigures } from '../autoscale/contract.js';

export const EXTERNAL_METRICS_GROUP = 'external.metrics.k8s.io';
export const EXTERNAL_METRICS_VERSION = 'v1beta1';

/** The metrics served, each read from a Provider's figures. */
export const METRICS: Record<string, (f: ProviderFigures) => number> = {
  gantry_provider_calls_per_second: (f) => f.callsPerSecond,
  gantry_provider_calls_in_flight: (f) => f.inFlight,
};

/** A non-negative figure as a quantity in milli-units, canonical like the API server's: 1.5 → "1500m", 2 → "2", 0 → "0". */
export function quantity(value: number): string {
  const milli = Math.round(Math.max(0, value) * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validNamespace(ns: string): boolean {
  return ns.length <= 63 && DNS_LABEL.test(ns);
}

/**
 * The Provider a label selector names: exactly `provider=<name>` (or `==`), nothing else — a
 * metric is one Provider's, so a selector matching several or none has no single answer.
 */
export function providerOfSelector(selector: string | null): { provider: string } | { error: string } {
  if (selector === null || selector.trim() === '') return { error: 'labelSelector is required: provider=<Provider name>' };
  const m = /^\s*provider\s*==?\s*([^\s,]+)\s*$/.exec(selector);
  if (!m) return { error: `labelSelector ${JSON.stringify(selector)}: only provider=<Provider name> is supported` };
  if (m[1].length > 253 || !DNS_SUBDOMAIN.test(m[1]))
    return { error: `labelSelector ${JSON.stringify(selector)}: ${JSON.stringify(m[1])} is not a Provider name` };
  return { provider: m[1] };
}
