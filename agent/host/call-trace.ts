/**
 * The host's spans of one call (docs/protocol.md "Trace context"): `gantry.host.call` (SERVER,
 * child of the caller's span from the request's traceparent), and under it `gantry.host.queue`
 * (from the request's arrival until a call thread took it) and `gantry.provider.call` (the
 * native call, timed on the call thread). The provider is handed the context of
 * `gantry.host.call`, so spans it makes itself hang under the host's.
 *
 * serve.ts asks for these only when tracingEnabled(): off, a call costs one boolean check and
 * two empty strings in its batch tuple.
 *
 * A call its caller sampled out (a valid traceparent with the sampled flag clear) under a
 * parent-based sampler, which would only make non-recording spans of it, gets none: no span,
 * no clock read, no attributes. The provider is handed the caller's own context (its trace id,
 * its span id, flags 00: no host span exists to be the parent) and tracestate, so the "no"
 * reaches the provider's spans too; the call thread does not time it (call-worker.ts).
 */
import { type Attributes, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Msg } from '@nats-io/transport-node';
import {
  Attrs,
  extractTrace,
  followsUnsampledParent,
  HEADER_TRACEPARENT,
  HEADER_TRACESTATE,
  Spans,
  traceHeaders,
  tracer,
} from '../../runtime/tracing/index.js';
import type { HostSpec } from './spec.js';

export interface HostCallTrace {
  /** undefined for a call its caller sampled out: nothing is recorded for it */
  span: Span | undefined;
  /** epoch ms the request arrived: the host span's start, the queue span's start */
  arrived: number;
  traceparent: string;
  tracestate: string;
}

const SERVER = SpanKind.SERVER;
/** The W3C traceparent as @opentelemetry/core's propagator accepts it (version, trace id, span id, flags, a later version's rest). */
const TRACEPARENT = /^\s?((?!ff)[\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?\s?$/;

/** The context to hand the provider of a call its caller sampled out, or undefined when the call is not one. */
function sampledOut(msg: Msg): HostCallTrace | undefined {
  const header = msg.headers?.get(HEADER_TRACEPARENT);
  if (!header || !followsUnsampledParent()) return undefined;
  const m = TRACEPARENT.exec(header);
  // version 00 has nothing after the flags; an invalid one starts a new trace (the span path)
  if (!m || (m[1] === '00' && m[5] !== undefined) || (Number.parseInt(m[4]!, 16) & 1) !== 0) return undefined;
  // tracestate only through the propagator, which bounds it as it does for a host span
  const tracestate = msg.headers!.get(HEADER_TRACESTATE) ? traceHeaders(extractTrace(msg.headers)).tracestate : '';
  return { span: undefined, arrived: 0, traceparent: `00-${m[2]}-${m[3]}-${m[4]}`, tracestate };
}

/** Open `gantry.host.call` for a request (op undefined: its subject had none). */
export function startHostCall(msg: Msg, spec: HostSpec, op: string | undefined): HostCallTrace {
  const dropped = sampledOut(msg);
  if (dropped) return dropped;
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
  if (!t.span || !(startedAt > 0 && endedAt >= startedAt)) return;
  const parent = trace.setSpan(ROOT_CONTEXT, t.span);
  tracer().startSpan(Spans.hostQueue, { startTime: t.arrived }, parent).end(Math.max(t.arrived, startedAt));
  const call = tracer().startSpan(Spans.providerCall, { startTime: startedAt, attributes: { [Attrs.providerCode]: status } }, parent);
  if (status !== 0) call.setStatus({ code: SpanStatusCode.ERROR, message: `provider returned code ${status}` });
  call.end(endedAt);
}

/** Close `gantry.host.call` once its reply went out: ERROR with the code of an error reply. */
export function endHostCall(t: HostCallTrace, code?: string, providerCode?: number): void {
  if (!t.span) return;
  if (code !== undefined) {
    t.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    t.span.setAttribute(Attrs.callCode, code);
    if (providerCode !== undefined) t.span.setAttribute(Attrs.providerCode, providerCode);
  }
  // the clock its start and the call thread's times come from: left to itself, a span given
  // its start time ends at Date.now(), whole ms, which can fall before the native call's end
  t.span.end(performance.timeOrigin + performance.now());
}
