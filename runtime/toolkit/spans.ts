/**
 * A unit of work as a span: the reconcilers' `gantry.reconcile` and its phases. The span is the
 * active one while `fn` runs, so phases (and any call the work makes) become its children; a
 * throw marks it ERROR with the message and is rethrown unchanged. With tracing off the
 * @opentelemetry/api no-op tracer makes this a plain call.
 */
import { type Attributes, type Span, SpanStatusCode } from '@opentelemetry/api';
import { Attrs, Spans, tracer } from '../tracing/index.js';

export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T | Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Mark a span failed: status ERROR with the error's message, the exception recorded. */
export function failSpan(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/** One phase of a reconcile: a `gantry.reconcile.<phase>` child of the active reconcile span. */
export function phase<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  return inSpan(`${Spans.reconcile}.${name}`, {}, fn);
}

/** The attributes of a reconcile span: what kind of object, and which. */
export function reconcileAttrs(kind: string, key: { namespace?: string; name: string }): Attributes {
  return { [Attrs.kind]: kind, [Attrs.namespace]: key.namespace ?? '', [Attrs.name]: key.name };
}
