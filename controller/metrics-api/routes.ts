/**
 * The external metrics API's answers, as an aggregated API server gives them: discovery
 * (/apis, the group, the version's APIResourceList) and one metric of one Provider as an
 * ExternalMetricValueList. Errors are Kubernetes Status objects with a specific message.
 */
import type { ProviderFiguresSource } from '../autoscale/contract.js';
import {
  EXTERNAL_METRICS_GROUP as GROUP,
  EXTERNAL_METRICS_VERSION as VERSION,
  METRICS,
  providerOfSelector,
  quantity,
  validNamespace,
} from './values.js';

export interface Answer {
  status: number;
  body: unknown;
}

/** What the metrics API needs to know of a Provider: that it exists, and how many instances are Ready. */
export type ProviderLookup = (namespace: string, name: string) => { readyReplicas: number } | undefined;

export interface MetricSources {
  figures: ProviderFiguresSource;
  provider: ProviderLookup;
  now: () => number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  503: 'ServiceUnavailable',
};

export function status(code: number, message: string): Answer {
  return {
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code], code },
  };
}

const groupVersion = `${GROUP}/${VERSION}`;
const apiGroup = {
  name: GROUP,
  versions: [{ groupVersion, version: VERSION }],
  preferredVersion: { groupVersion, version: VERSION },
};

/** Discovery documents, served to the aggregator's proxy even without a user (they hold nothing secret). */
export function discovery(path: string): Answer | undefined {
  if (path === '/apis') return { status: 200, body: { kind: 'APIGroupList', apiVersion: 'v1', groups: [apiGroup] } };
  if (path === `/apis/${GROUP}`) return { status: 200, body: { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup } };
  if (path === `/apis/${groupVersion}`)
    return {
      status: 200,
      body: {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion,
        resources: Object.keys(METRICS).map((name) => ({
          name,
          singularName: '',
          namespaced: true,
          kind: 'ExternalMetricValueList',
          verbs: ['get'],
        })),
      },
    };
  return undefined;
}

const METRIC_PATH = new RegExp(`^/apis/${groupVersion.replace(/\./g, '\\.')}/namespaces/([^/]+)/([^/]+)$`);

/** Whether PATH asks for a metric value (so needs an end user), as opposed to discovery. */
export function isMetricPath(path: string): boolean {
  return METRIC_PATH.test(path);
}

/**
 * One metric of one Provider. A Provider with no load report answers 0 only when none of its
 * instances is Ready (nothing serves, so no call is served); with Ready instances and no report
 * the figure is unknown and the answer is 503 — the HPA then keeps the replicas as they are
 * rather than scaling down on a figure it does not have.
 */
export function metricValue(path: string, selector: string | null, src: MetricSources): Answer {
  const m = METRIC_PATH.exec(path);
  if (!m) return status(404, `no such path: ${path}`);
  const [namespace, metric] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
  if (!validNamespace(namespace)) return status(400, `namespace ${JSON.stringify(namespace)} is not a namespace name`);
  const read = Object.hasOwn(METRICS, metric) ? METRICS[metric] : undefined;
  if (!read) return status(404, `metric ${JSON.stringify(metric)} is not served here (served: ${Object.keys(METRICS).join(', ')})`);
  const sel = providerOfSelector(selector);
  if ('error' in sel) return status(400, sel.error);
  const provider = src.provider(namespace, sel.provider);
  if (!provider) return status(404, `Provider ${namespace}/${sel.provider} not found`);
  const now = src.now();
  const figures = src.figures.figures(namespace, sel.provider, now);
  let value: number;
  if (figures) value = read(figures);
  else if (provider.readyReplicas === 0) value = 0;
  else
    return status(
      503,
      `no load report from the ${provider.readyReplicas} Ready instance(s) of Provider ${namespace}/${sel.provider}: ${metric} is unknown`,
    );
  if (!Number.isFinite(value)) return status(503, `${metric} of Provider ${namespace}/${sel.provider} is not a number (${value})`);
  return {
    status: 200,
    body: {
      kind: 'ExternalMetricValueList',
      apiVersion: groupVersion,
      metadata: {},
      items: [
        {
          metricName: metric,
          metricLabels: { provider: sel.provider },
          timestamp: `${new Date(now).toISOString().slice(0, 19)}Z`, // RFC 3339 in whole seconds, as Kubernetes writes times
          value: quantity(value),
        },
      ],
    },
  };
}
