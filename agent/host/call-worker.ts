/**
 * A call thread of the provider host (a worker_threads worker; see call-pool.ts). It runs
 * handle_call synchronously for each call of a batch the main thread sends, copies each reply
 * out of provider memory, frees it, and answers the whole batch in one message. A library with
 * the handle_call_traced extension gets every call through it instead, with the call's trace
 * context ('' when untraced); traced calls are timed here, on the thread that runs them, so
 * the host's `gantry.provider.call` span covers the native call and not the queue before it.
 *
 * It calls the function pointers of the table the main thread already loaded (passed as
 * addresses): the library is not opened again and __capability_provider_create is not called
 * again, so the provider keeps one state.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
// type only: native.ts registers koffi types of the same names, which this thread declares itself
import type { CallFunctions } from './native.js';

export type CallWorkerData = CallFunctions;

/**
 * One call: [id, actor, op, payload, traceparent, tracestate]. The last two are the W3C trace
 * context the provider sees (the host's `gantry.host.call` span, or the caller's own with
 * flags 00 for a call its caller sampled out: call-trace.ts), '' when the call is not traced;
 * a provider with the `handle_call_traced` extension gets them, others do not.
 */
export type BatchCall = [number, string, string, Uint8Array, string, string];
/**
 * One result: [id, status, reply or error message, startedAt, endedAt]. The times (epoch ms,
 * `performance.timeOrigin + performance.now()` on the call thread) bracket the native call and
 * are measured only for sampled calls (a traceparent with the sampled flag): 0 otherwise.
 */
export type BatchResult = [number, number, Uint8Array, number, number];

const data = workerData as CallWorkerData;
const lib = koffi.load(data.libraryPath);
const Reply = koffi.struct('gantry_buffer', { data: 'void *', len: 'size_t' });
const handleCall = koffi.decode(
  data.handleCall,
  koffi.proto(
    'int32_t gantry_handle_call_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, _Out_ gantry_buffer *reply)',
  ),
) as (...a: any[]) => number;
const freeBuffer = koffi.decode(data.freeBuffer, koffi.proto('void gantry_free_fn(void *ctx, void *data, size_t len)')) as (
  ...a: any[]
) => void;
// the untraced path stays what it was: the same native call, no clock read, nothing allocated
const handleCallTraced =
  data.handleCallTraced === null
    ? null
    : (koffi.decode(
        data.handleCallTraced,
        koffi.proto(
          'int32_t gantry_handle_call_traced_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, const char *traceparent, const char *tracestate, _Out_ gantry_buffer *reply)',
        ),
      ) as (...a: any[]) => number);
const now = () => performance.timeOrigin + performance.now();
void Reply;
void lib;
const EMPTY = new Uint8Array(0);

parentPort!.on('message', (batch: BatchCall[]) => {
  const out: BatchResult[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const [id, actor, op, msg, traceparent, tracestate] of batch) {
    const reply: { data: unknown; len: number | bigint } = { data: null, len: 0 };
    let status: number;
    let body = EMPTY;
    // timed only when its spans are recorded: a traceparent whose sampled flag (the low bit of
    // the flags, characters 53–54 in every version) is set
    const traced = traceparent !== '' && (Number.parseInt(traceparent.charAt(54), 16) & 1) === 1;
    let startedAt = 0;
    let endedAt = 0;
    try {
      if (traced) startedAt = now();
      status =
        handleCallTraced === null
          ? handleCall(data.ctx, actor, op, msg, msg.length, reply)
          : handleCallTraced(data.ctx, actor, op, msg, msg.length, traceparent, tracestate, reply);
      if (traced) endedAt = now();
      const n = Number(reply.len);
      if (reply.data) {
        if (n > 0) body = new Uint8Array(koffi.view(reply.data, n)).slice();
        freeBuffer(data.ctx, reply.data, reply.len);
      }
    } catch (e) {
      status = 1; // GANTRY_ERR_PROVIDER
      body = new TextEncoder().encode(`native call failed: ${(e as Error).message}`);
      if (traced && endedAt === 0) endedAt = now();
    }
    out.push([id, status, body, startedAt, endedAt]);
    if (body.byteLength) transfer.push(body.buffer as ArrayBuffer);
  }
  parentPort!.postMessage(out, transfer);
});
