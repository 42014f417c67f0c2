/**
 * The checks of `gantry abi check` about the extension mechanism (docs/abi.md#extensions),
 * and `traced-calls` (handle_call_traced given a trace context answers as without one),
 * kept beside abi-check-run.ts: `extensions` (which extension fields the host's loader reads —
 * health, handle_call_traced —
 * a bad flag or ext_size failing it with the loader's own error) and `health` (healthy,
 * unhealthy with its message, or absent; a hang fails it through the check timeout).
 */
import { randomBytes } from 'node:crypto';
import { fail } from './abi-check-native.js';
import { GantryStatus, NativeProvider } from './native.js';

/** Load with the host's own loader (it refuses bad flags and ext_size) and say what it reads. */
export function extensionsCheck(library: string): { provider: NativeProvider; detail: string } {
  const provider = NativeProvider.load(library);
  const { extSize, fields } = provider.extensions;
  if (extSize === 0) return { provider, detail: "none (flags 0: the table ends at stop); the host's loader accepts it" };
  const state = (at: number | undefined, set: boolean) =>
    at === undefined ? 'beyond ext_size (not implemented)' : set ? 'set' : 'NULL (not implemented)';
  const health = state(fields.health, provider.hasHealth);
  const traced = state(fields.handle_call_traced, provider.hasTracedCalls);
  return {
    provider,
    detail: `GANTRY_FLAG_EXTENSIONS, ext_size ${extSize}; health: ${health}; handle_call_traced: ${traced}; the host's loader accepts it`,
  };
}

/** Call health once (after configure_dispatch, as a host does). */
export async function healthCheck(provider: NativeProvider): Promise<string> {
  if (!provider.hasHealth) return 'absent: the provider has no health extension (a host counts it as always healthy)';
  const { status, message } = await provider.health();
  if (status === GantryStatus.OK) return 'healthy';
  if (!message) fail(`health returned code ${status} without a message: say in *message why the provider cannot serve`);
  return `unhealthy (code ${status}): ${message}`;
}

/**
 * Each operation once more with a trace context, as a traced call reaches it: it must answer
 * the code it answered without one (for operations whose code was stable), so a provider that
 * breaks only when traced fails here rather than in production.
 */
export function tracedCallsCheck(
  provider: NativeProvider,
  ops: { op: string; payload: Uint8Array }[],
  expected: Map<string, number>,
): string {
  if (!provider.hasTracedCalls) return 'no handle_call_traced: a host calls handle_call for traced calls too';
  const trace = {
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    tracestate: 'gantry-abi-check=1',
  };
  for (const { op, payload } of ops) {
    const { status, body } = provider.callSync('', op, payload, trace);
    const want = expected.get(op);
    if (want !== undefined && status !== want) {
      const why = Buffer.from(body).toString('utf8') || 'no message';
      fail(
        `${op} answered code ${status} (${why}) with a trace context, ${want} without: a trace context must not change what an operation does`,
      );
    }
  }
  return `${ops.length} operations answered with a trace context (${trace.traceparent}) as without one`;
}
