/**
 * The caller's span of a call (`gantry.call`, kind CLIENT) and the W3C trace context its
 * requests carry in their NATS headers (traceparent, tracestate; docs/protocol.md "Trace
 * context").
 *
 * Only @opentelemetry/api: client/ imports nothing of Gantry's (callers need only it), so it
 * traces through whatever SDK the process registered — runtime/tracing's startTracing or
 * registerTracing in Gantry's own processes, an application's own SDK otherwise. With none
 * registered nothing is made per call (no span, no attributes, no header, no extra promise):
 * one look at the global provider. The names equal runtime/tracing's Spans and Attrs (a test
 * holds them together).
 */
import {
  context,
  isSpanContextValid,
  ProxyTracerProvider,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';
import { CallError } from './call-error.js';

export const CALL_SPAN = 'gantry.call';
export const CALL_ATTRS = {
  namespace: 'gantry.namespace',
  provider: 'gantry.provider',
  operation: 'gantry.operation',
  instance: 'gantry.instance',
  callCode: 'gantry.call.code',
  providerCode: 'gantry.provider.code',
  attempts: 'gantry.call.attempts',
} as const;

const SPAN_OPTIONS = { kind: SpanKind.CLIENT };
/** The API's no-op tracer provider (a proxy with no SDK behind it answers with this one). */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** The registered tracer provider behind the API's proxy (NOOP_PROVIDER: no SDK). */
function registered(): TracerProvider {
  const p = trace.getTracerProvider();
  return p instanceof ProxyTracerProvider ? p.getDelegate() : p;
}

// the tracer of the provider registered last, looked up again only when another is registered:
// an SDK's getTracer builds a key string and searches its map on every call
let tracerOf: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;
function callTracer(p: TracerProvider): Tracer {
  if (p !== tracerOf || !cachedTracer) {
    cachedTracer = p.getTracer('gantry');
    tracerOf = p;
  }
  return cachedTracer;
}
const SET_HEADER: TextMapSetter<MsgHdrs> = { set: (h, key, value) => h.set(key, value) };

export interface TracedCall {
  namespace: string;
  provider?: string;
  capid?: string;
  instance?: string;
  op: string;
}

/**
 * Run a whole call (retries and activation included) inside its `gantry.call` span; `subject`
 * is only asked for when the span records. The call's own result or CallError passes through.
 */
export function traceCall<T extends { instance: string; attempts: number }>(
  o: TracedCall,
  subject: () => string,
  run: () => Promise<T>,
): Promise<T> {
  const p = registered();
  return p === NOOP_PROVIDER ? run() : traced(callTracer(p), o, subject, run);
}

async function traced<T extends { instance: string; attempts: number }>(
  tracer: Tracer,
  o: TracedCall,
  subject: () => string,
  run: () => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(CALL_SPAN, SPAN_OPTIONS);
  if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return run();
  if (span.isRecording()) {
    span.setAttributes({
      [CALL_ATTRS.namespace]: o.namespace,
      [CALL_ATTRS.provider]: o.provider ?? o.capid ?? '',
      [CALL_ATTRS.operation]: o.op,
      'messaging.system': 'nats',
    });
    try {
      span.setAttribute('messaging.destination.name', subject());
    } catch {
      // a bad target: run() fails with its BAD_TARGET, recorded below
    }
  }
  try {
    const r = await context.with(trace.setSpan(context.active(), span), run);
    span.setAttributes({ [CALL_ATTRS.attempts]: r.attempts, [CALL_ATTRS.instance]: r.instance });
    return r;
  } catch (e) {
    const code = e instanceof CallError ? e.code : 'ERROR';
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    span.setAttribute(CALL_ATTRS.callCode, code);
    if (e instanceof CallError) {
      span.setAttribute(CALL_ATTRS.attempts, e.attempts);
      if (e.instance) span.setAttribute(CALL_ATTRS.instance, e.instance);
      if (e.providerCode !== undefined) span.setAttribute(CALL_ATTRS.providerCode, e.providerCode);
    }
    throw e;
  } finally {
    span.end();
  }
}

/** Put the active span's trace context (the call's span, inside traceCall) into a request's headers. */
export function injectCallTrace(h: MsgHdrs): void {
  // off: no context manager, so no active span — one lookup, nothing written
  if (trace.getActiveSpan() === undefined) return;
  propagation.inject(context.active(), h, SET_HEADER);
}
