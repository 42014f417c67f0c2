/**
 * Traces (OpenTelemetry) for every Gantry process: names of spans and attributes shared by the
 * caller, the host, the agent and the controller, so a trace reads the same whoever made it.
 * docs/observability.md lists them.
 */
import { trace, type Tracer } from '@opentelemetry/api';

export {
  type FlushableTracerProvider,
  followsUnsampledParent,
  registerTracing,
  startTracing,
  tracingEnabled,
  type Tracing,
} from './setup.js';
export { otelEnv, TracingConfigError, tracingConfig, type TracingConfig } from './config.js';
export { extractTrace, HEADER_TRACEPARENT, HEADER_TRACESTATE, injectTrace, traceHeaders } from './nats.js';

/** The one tracer (instrumentation scope `gantry`). */
export function tracer(): Tracer {
  return trace.getTracer('gantry');
}

/** Span names. */
export const Spans = {
  /** caller (callProvider / gantry call), kind CLIENT: the whole call including retries */
  call: 'gantry.call',
  /** host, kind SERVER, child of the caller's span: one call as the host served it */
  hostCall: 'gantry.host.call',
  /** host: waiting for a call thread */
  hostQueue: 'gantry.host.queue',
  /** host: the provider's handle_call on a call thread (its context is what the provider sees) */
  providerCall: 'gantry.provider.call',
  /** agent: an instance from claim to Running, with children fetch, verify, load, connect */
  agentStart: 'gantry.agent.start',
  agentFetch: 'gantry.agent.fetch',
  agentVerify: 'gantry.agent.verify',
  agentLoad: 'gantry.agent.load',
  agentConnect: 'gantry.agent.connect',
  /** controller, kind SERVER, child of the caller's gantry.call: one activation from zero (the wait for a Ready instance included) */
  activate: 'gantry.activate',
  /** controller: one reconcile of one object, with a child per phase (gantry.reconcile.<phase>) */
  reconcile: 'gantry.reconcile',
} as const;

/** Attribute keys. */
export const Attrs = {
  namespace: 'gantry.namespace',
  provider: 'gantry.provider',
  operation: 'gantry.operation',
  instance: 'gantry.instance',
  node: 'gantry.node',
  kind: 'gantry.kind',
  name: 'gantry.name',
  /** the Gantry error code of a failed call (CallErrorCode), also the span status message */
  callCode: 'gantry.call.code',
  /** the provider's own return code (GANTRY_ERR_*) */
  providerCode: 'gantry.provider.code',
  attempts: 'gantry.call.attempts',
  /** why an agent start failed for good (a reason of api/reasons.ts) */
  reason: 'gantry.reason',
  revision: 'gantry.revision',
  digest: 'gantry.digest',
} as const;
