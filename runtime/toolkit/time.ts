/**
 * Kubernetes timestamps. The API stores `metav1.Time` to the second (RFC 3339, no fraction:
 * conditions, events, termination times) and `metav1.MicroTime` to the microsecond (Lease
 * renewals, event series); a server rejects a fraction where it expects whole seconds, so every
 * timestamp Gantry writes goes through one of these two.
 */

/** `2026-12-06T01:02:03Z`: a metav1.Time. */
export function kubeTime(at: number | Date = Date.now()): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `2026-12-06T01:02:03.456000Z`: a metav1.MicroTime (JavaScript clocks stop at milliseconds). */
export function kubeMicroTime(at: number | Date = Date.now()): string {
  return new Date(at).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
