/**
 * How `gantry abi check`'s child process (abi-check-run.ts) reads what a provider library
 * returns, below the host's own loader: its strings and messages checked to be UTF-8, its
 * table's functions called directly (handle_call on libuv's pool, every buffer handed back
 * through free_buffer), and the C heap and resident set measured for the leak check.
 */
import koffi from 'koffi';
import { GantryStatus, type KoffiFunction } from './native.js';

export type NativeFn = KoffiFunction;

/** A check's own verdict: its message is the detail reported (anything else is an "unexpected error"). */
export class CheckFailed extends Error {}
export const fail = (why: string): never => {
  throw new CheckFailed(why);
};

export const MiB = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const libc = koffi.load('libc.so.6');
const strlen = libc.func('size_t strlen(const void *s)') as NativeFn;

/** The bytes of a NUL-terminated string the provider returned, checked to be UTF-8. */
export function cString(ptr: unknown, what: string): string {
  if (!ptr) fail(`${what} returned NULL`);
  const n = Number(strlen(ptr));
  const bytes = n > 0 ? new Uint8Array(koffi.view(ptr, n)).slice() : new Uint8Array(0);
  try {
    return utf8.decode(bytes);
  } catch {
    return fail(`${what} is not valid UTF-8 (${n} bytes)`);
  }
}

export function message(body: Uint8Array, what: string): string {
  if (body.length === 0) fail(`${what} without a message: put a UTF-8 message for people in the buffer`);
  try {
    return utf8.decode(body);
  } catch {
    return fail(`${what} with a message that is not valid UTF-8`);
  }
}

export const Proto = {
  Str: koffi.proto('const void *abicheck_str_fn(void *ctx)'),
  Configure: koffi.proto('int32_t abicheck_configure_fn(void *ctx, const uint8_t *json, size_t len, _Out_ gantry_buffer *error)'),
  HandleCall: koffi.proto(
    'int32_t abicheck_handle_call_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, _Out_ gantry_buffer *reply)',
  ),
  HandleCallTraced: koffi.proto(
    'int32_t abicheck_handle_call_traced_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, const char *traceparent, const char *tracestate, _Out_ gantry_buffer *reply)',
  ),
  Free: koffi.proto('void abicheck_free_fn(void *ctx, void *data, size_t len)'),
};

/** Status codes handle_call may return (configure's and the dispatcher's are not among them). */
export const CALL_CODES = new Set<number>([
  GantryStatus.OK,
  GantryStatus.PROVIDER,
  GantryStatus.BAD_REQUEST,
  GantryStatus.UNKNOWN_OP,
  GantryStatus.UNAUTHORIZED,
  GantryStatus.OVERLOADED,
]);

export interface GantryBuffer {
  data: unknown;
  len: number | bigint;
}

/**
 * The provider table's own call function and free_buffer, called directly: handle_call_traced
 * (with '' for both trace values, an untraced call) when the library has it, as a host's call
 * threads do, else handle_call.
 */
export class DirectCalls {
  private readonly handleCall: NativeFn;
  private readonly traced: NativeFn | null;
  private readonly freeRaw: NativeFn;

  constructor(
    private readonly table: Record<string, unknown>,
    handleCallTraced: bigint | null,
  ) {
    this.freeRaw = koffi.decode(table.free_buffer, Proto.Free) as NativeFn;
    this.handleCall = koffi.decode(table.handle_call, Proto.HandleCall) as NativeFn;
    this.traced = handleCallTraced === null ? null : (koffi.decode(handleCallTraced, Proto.HandleCallTraced) as NativeFn);
  }

  /** One call on this thread; the reply is left in `reply` for the caller to free. */
  callNow(op: string, msg: Uint8Array, reply: GantryBuffer): number {
    const ctx = this.table.ctx;
    return (
      this.traced ? this.traced(ctx, '', op, msg, msg.length, '', '', reply) : this.handleCall(ctx, '', op, msg, msg.length, reply)
    ) as number;
  }

  /** A copy of the buffer's bytes, the buffer itself handed back through free_buffer. */
  take(buf: GantryBuffer): Uint8Array {
    if (!buf.data) return new Uint8Array(0);
    const n = Number(buf.len);
    const copy = n > 0 ? new Uint8Array(koffi.view(buf.data, n)).slice() : new Uint8Array(0);
    this.free(buf);
    return copy;
  }

  /** The buffer handed back through free_buffer, uncopied. */
  free(buf: GantryBuffer): void {
    this.freeRaw(this.table.ctx, buf.data, buf.len);
  }

  /** One handle_call on libuv's pool. */
  call(op: string, payload: Uint8Array): Promise<{ status: number; body: Uint8Array }> {
    return new Promise((resolve, reject) => {
      const reply = { data: null, len: 0 };
      const done = (err: unknown, status: number) => {
        if (err) reject(err as Error);
        else resolve({ status, body: this.take(reply) });
      };
      const ctx = this.table.ctx;
      if (this.traced) this.traced.async(ctx, '', op, payload, payload.length, '', '', reply, done);
      else this.handleCall.async(ctx, '', op, payload, payload.length, reply, done);
    });
  }
}

const MallInfo2 = koffi.struct({
  arena: 'size_t',
  ordblks: 'size_t',
  smblks: 'size_t',
  hblks: 'size_t',
  hblkhd: 'size_t',
  usmblks: 'size_t',
  fsmblks: 'size_t',
  uordblks: 'size_t',
  fordblks: 'size_t',
  keepcost: 'size_t',
});
const mallinfo2 = libc.func('mallinfo2', MallInfo2, []) as NativeFn;

/** Bytes malloc has handed out and not had back (all arenas, plus mmapped chunks). */
export function heapInUse(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = mallinfo2() as { uordblks: number | bigint; hblkhd: number | bigint };
  return Number(m.uordblks) + Number(m.hblkhd);
}

export function residentBytes(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}
