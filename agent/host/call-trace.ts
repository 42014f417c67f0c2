/**
 * The host's spans of one call (docs/protocol.md "Trace context"): `gantry.host.call` (SERVER,
 * child of the caller's span from the request's traceparent), and under it `gantry.host.queue`
 * (from the request's arrival until a call thread took it) and `gantry.provider.call` (the
 * native call, timed on the call thread). The provider is handed the context of
 * `gantry.host.call`, so spans it makes itself hang under the host's.
 *
 * serve.ts asks for these only when tracingEnabled(): off, a call costs one boolean check and
 * two empty strings in its batch tuple.
 */
import { type Attributes, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Msg } from '@nats-io/transport-node';
import { Attrs, extractTrace, Spans, traceHeaders, tracer } from '../../runtime/tracing/index.js';
import type { HostSpec } from './spec.js';

export interface HostCallTrace {
  span: Span;
  /** epoch ms the request arrived: the host span's start, the queue span's start */
  arrived: number;
  traceparent: string;
  tracestate: string;
}

const SERVER = SpanKind.SERVER;

/** Open `gantry.host.call` for a request (op undefined: its subject had none). */
export function startHostCall(msg: Msg, spec: HostSpec, op: string | undefined): HostCallTrace {
  const arrived = performance.timeOrigin + performance.now();
  const attributes: Attributes = {
    [Attrs.namespace]: spec.namespace,
    [Attrs.provider]: spec.provider,
    [Attrs.instance]: spec.instance,
    'messaging.system': 'nats',
    'messaging.destination.name': msg.subject,
  };
  if (op !== undefined) attributes[Attrs.operation] = op;
  const span = tracer().startSpan(Spans.hostCall, { kind: SERVER, startTime: arrived, attributes }, extractTrace(msg.headers));
  const { traceparent, tracestate } = traceHeaders(trace.setSpan(ROOT_CONTEXT, span));
  return { span, arrived, traceparent, tracestate };
}

/**
 * The call thread's times of a call (epoch ms; 0 when the thread did not time it): its queue
 * and native call as children of the host span, which may have ended already (a call answered
 * TIMEOUT whose native call returned later still shows how long it really ran).
 */
export function recordProviderCall(t: HostCallTrace, startedAt: number, endedAt: number, status: number): void {
  if (!(startedAt > 0 && endedAt >= startedAt)) return;
  const parent = trace.setSpan(ROOT_CONTEXT, t.span);
  tracer().startSpan(Spans.hostQueue, { startTime: t.arrived }, parent).end(Math.max(t.arrived, startedAt));
  const call = tracer().startSpan(Spans.providerCall, { startTime: startedAt, attributes: { [Attrs.providerCode]: status } }, parent);
  if (status !== 0) call.setStatus({ code: SpanStatusCode.ERROR, message: `provider returned code ${status}` });
  call.end(endedAt);
}

/** Close `gantry.host.call` once its reply went out: ERROR with the code of an error reply. */
export function endHostCall(t: HostCallTrace, code?: string, providerCode?: number): void {
  if (code !== undefined) {
    t.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    t.span.setAttribute(Attrs.callCode, code);
    if (providerCode !== undefined) t.span.setAttribute(Attrs.providerCode, providerCode);
  }
  t.span.end();
}
