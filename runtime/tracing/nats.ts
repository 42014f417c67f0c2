/**
 * W3C trace context (traceparent, tracestate) in NATS message headers: the caller injects,
 * the host extracts. With tracing off no propagator is registered, so both are no-ops.
 */
import { type Context, context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';

export const HEADER_TRACEPARENT = 'traceparent';
export const HEADER_TRACESTATE = 'tracestate';

/** Write the context's trace (default: the active one) into h. */
export function injectTrace(h: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, h, { set: (carrier, key, value) => carrier.set(key, value) });
}

/** The remote parent a message carries (ROOT_CONTEXT when it carries none or tracing is off). */
export function extractTrace(h: MsgHdrs | undefined): Context {
  if (!h) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, h, {
    get: (carrier, key) => carrier.get(key) || undefined,
    keys: (carrier) => carrier.keys(),
  });
}

/** The W3C header values of a span's context, as the ABI hands them to a provider ('' when none). */
export function traceHeaders(ctx: Context): { traceparent: string; tracestate: string } {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  if (!trace.getSpanContext(ctx)) return { traceparent: '', tracestate: '' };
  return { traceparent: carrier[HEADER_TRACEPARENT] ?? '', tracestate: carrier[HEADER_TRACESTATE] ?? '' };
}
