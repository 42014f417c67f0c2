/**
 * The external metrics API (external.metrics.k8s.io/v1beta1) Gantry serves itself, so a
 * HorizontalPodAutoscaler can scale a Provider on its call figures (docs/autoscaling-hpa.md).
 */
export { type Authentication, authenticate, type Caller } from './auth.js';
export {
  EXTENSION_AUTH_CONFIGMAP,
  readRequestHeaderConfig,
  type RequestHeaderConfig,
  requestHeaderFromConfigMap,
} from './request-header.js';
export { type Answer, discovery, metricValue, type ProviderLookup } from './routes.js';
export { type MetricsApiOptions, type MetricsApiServer, metricsApiListenAddr, serveMetricsApi } from './server.js';
export { EXTERNAL_METRICS_GROUP, EXTERNAL_METRICS_VERSION, METRICS, providerOfSelector, quantity } from './values.js';
export { type MetricsApiSettings, startMetricsApi } from './start.js';
