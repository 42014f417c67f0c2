/**
 * The native side of a provider host: loads a provider library with koffi and speaks ABI v1
 * (providers/gantry_provider.h, docs/abi.md) to it.
 *
 * Loading checks, in order: the library opens (LOAD_FAILED), exports a create function that
 * returns a table (NOT_A_PROVIDER), the table's abi_version is ours (ABI_MISMATCH — read before
 * anything else in the table is trusted), and every mandatory function pointer is set.
 * The host runs handle_call (or handle_call_traced, when the library has that extension: then
 * for every call) on its call threads (call-pool.ts), which call the table's
 * function pointers directly (koffi's per-call `.async` measured 3-4x the CPU). Everything else
 * is called rarely and synchronously, except stop, which runs on the pool because it may join
 * provider threads that wait on our event loop (the dispatcher).
 */
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { HostError } from './errors.js';
import { ABI_VERSION } from './abi.js';
import { type ExtensionLayout, EXT_OFFSET, extensionLayout } from './abi-extensions.js';

/** A koffi function of any prototype (`.async` runs it on libuv's pool). */
export type KoffiFunction = ((...args: any[]) => any) & { async: (...args: any[]) => void };

export { ABI_VERSION };
export const CREATE_SYMBOL = '__capability_provider_create';

/** Provider return codes (gantry_provider.h). */
export const GantryStatus = {
  OK: 0,
  PROVIDER: 1,
  BAD_REQUEST: 2,
  UNKNOWN_OP: 3,
  UNAUTHORIZED: 4,
  OVERLOADED: 5,
  CONFIG: 6,
  NOT_READY: 7,
  NO_ACTOR: 8,
} as const;

/** The handle_call_traced extension's prototype (gantry_provider.h), also decoded on the call threads. */
export const HANDLE_CALL_TRACED =
  'int32_t gantry_handle_call_traced_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, const char *traceparent, const char *tracestate, _Out_ gantry_buffer *reply)';

/** koffi types are registered once per process (names are global in koffi). */
const types = (() => {
  const Buffer_ = koffi.struct('gantry_buffer', { data: 'void *', len: 'size_t' });
  const Table = koffi.struct('gantry_provider', {
    abi_version: 'uint32_t',
    flags: 'uint32_t',
    ctx: 'void *',
    capability_id: 'void *',
    name: 'void *',
    configure: 'void *',
    configure_dispatch: 'void *',
    handle_call: 'void *',
    free_buffer: 'void *',
    stop: 'void *',
  });
  return {
    Buffer_,
    Table,
    Create: koffi.proto('void *gantry_provider_create_fn(void)'),
    Str: koffi.proto('const char *gantry_str_fn(void *ctx)'),
    Configure: koffi.proto('int32_t gantry_configure_fn(void *ctx, const char *json, size_t len, _Out_ gantry_buffer *error)'),
    Dispatch: koffi.proto('int32_t gantry_dispatch_fn(void *host_ctx, const char *actor, const char *op, const uint8_t *msg, size_t len)'),
    ConfigureDispatch: koffi.proto('int32_t gantry_configure_dispatch_fn(void *ctx, gantry_dispatch_fn *dispatch, void *host_ctx)'),
    HandleCall: koffi.proto(
      'int32_t gantry_handle_call_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, _Out_ gantry_buffer *reply)',
    ),
    Free: koffi.proto('void gantry_free_fn(void *ctx, void *data, size_t len)'),
    Stop: koffi.proto('void gantry_stop_fn(void *ctx)'),
    Health: koffi.proto('int32_t gantry_health_fn(void *ctx, _Out_ gantry_buffer *message)'),
    HandleCallTraced: koffi.proto(HANDLE_CALL_TRACED),
  };
})();

interface RawBuffer {
  data: unknown;
  len: number | bigint;
}

/** What a provider → actor call looks like to the host. Return a GantryStatus code. */
export type DispatchHandler = (actor: string, op: string, msg: Uint8Array) => number;

/** One health check's answer: GANTRY_OK is healthy; anything else unhealthy, with the provider's reason. */
export interface HealthAnswer {
  status: number;
  message: string;
}

/** A call's W3C trace context as the provider sees it: header values, '' when untraced. */
export interface TraceContext {
  traceparent: string;
  tracestate: string;
}

const UNTRACED: TraceContext = { traceparent: '', tracestate: '' };

/** Completion of one handle_call: status code and the reply body (or error message). */
export type CallDone = (status: number, body: Uint8Array) => void;

const EMPTY = new Uint8Array(0);

/** What a call thread needs to call the provider (call-worker.ts): addresses, not koffi objects. */
export interface CallFunctions {
  /** Opened again only so koffi sets up the thread's call memory; dlopen returns the same handle. */
  libraryPath: string;
  ctx: bigint | null;
  handleCall: bigint;
  freeBuffer: bigint;
  /** handle_call_traced when the library has it: then the thread calls it for every call. */
  handleCallTraced: bigint | null;
}

export class NativeProvider {
  readonly capabilityId: string;
  readonly name: string;
  readonly abiVersion: number;
  private readonly ctx: unknown;
  private readonly handleCallFn: KoffiFunction;
  private readonly freeFn: KoffiFunction;
  private readonly stopFn: KoffiFunction;
  private readonly configureFn?: KoffiFunction;
  private readonly configureDispatchFn: KoffiFunction;
  private readonly healthFn?: KoffiFunction;
  private readonly tracedFn?: KoffiFunction;
  /** ext_size and the extension fields the library has (abi-extensions.ts). */
  readonly extensions: ExtensionLayout;
  private dispatchCallback?: unknown;
  private readonly raw: { ctx: unknown; handleCall: unknown; freeBuffer: unknown; handleCallTraced: unknown };

  private constructor(
    private readonly lib: LibraryHandle,
    table: Record<string, unknown>,
    readonly path: string,
    extensions: { layout: ExtensionLayout; health: unknown; handleCallTraced: unknown },
  ) {
    this.extensions = extensions.layout;
    if (extensions.health) this.healthFn = koffi.decode(extensions.health, types.Health) as KoffiFunction;
    if (extensions.handleCallTraced) this.tracedFn = koffi.decode(extensions.handleCallTraced, types.HandleCallTraced) as KoffiFunction;
    this.abiVersion = table.abi_version as number;
    this.ctx = table.ctx;
    this.raw = {
      ctx: table.ctx,
      handleCall: table.handle_call,
      freeBuffer: table.free_buffer,
      handleCallTraced: extensions.handleCallTraced,
    };
    const fn = (field: string, proto: TypeObject) => koffi.decode(table[field], proto) as KoffiFunction;
    this.handleCallFn = fn('handle_call', types.HandleCall);
    this.freeFn = fn('free_buffer', types.Free);
    this.stopFn = fn('stop', types.Stop);
    this.configureDispatchFn = fn('configure_dispatch', types.ConfigureDispatch);
    if (table.configure) this.configureFn = fn('configure', types.Configure);
    this.capabilityId = String(fn('capability_id', types.Str)(this.ctx) ?? '');
    this.name = String(fn('name', types.Str)(this.ctx) ?? '');
  }

  /** Open a library and check its table. Throws HostError (LOAD_FAILED, NOT_A_PROVIDER, ABI_MISMATCH). */
  static load(path: string): NativeProvider {
    let lib: LibraryHandle;
    try {
      lib = koffi.load(path);
    } catch (e) {
      throw new HostError('LOAD_FAILED', `cannot load provider library ${path}: ${(e as Error).message}`);
    }
    let create: KoffiFunction;
    try {
      create = lib.func(CREATE_SYMBOL, 'void *', []);
    } catch {
      throw new HostError('NOT_A_PROVIDER', `${path} does not export ${CREATE_SYMBOL}; is it a Gantry provider?`);
    }
    const ptr = create();
    if (!ptr) throw new HostError('NOT_A_PROVIDER', `${CREATE_SYMBOL} in ${path} returned NULL`);
    // Read only the version first: a table of another ABI may have another layout.
    const version = koffi.decode(ptr, 'uint32_t') as number;
    if (version !== ABI_VERSION) {
      throw new HostError('ABI_MISMATCH', `${path} implements provider ABI v${version}; this host speaks v${ABI_VERSION}`);
    }
    const table = koffi.decode(ptr, types.Table) as Record<string, unknown>;
    const missing = ['capability_id', 'name', 'configure_dispatch', 'handle_call', 'free_buffer', 'stop'].filter((f) => !table[f]);
    if (missing.length) throw new HostError('NOT_A_PROVIDER', `${path}: provider table lacks ${missing.join(', ')}`);
    // the extension block is read only as far as flags and ext_size say it exists
    const layout = extensionLayout(table.flags as number, () => koffi.decode(ptr, EXT_OFFSET, 'size_t') as number | bigint, path);
    const field = (at: number | undefined): unknown => (at === undefined ? null : koffi.decode(ptr, at, 'void *'));
    const health = field(layout.fields.health);
    const handleCallTraced = field(layout.fields.handle_call_traced);
    return new NativeProvider(lib, table, path, { layout, health, handleCallTraced });
  }

  /** Whether the library implements the health extension. */
  get hasHealth(): boolean {
    return this.healthFn !== undefined;
  }

  /** Whether the library implements handle_call_traced (then every call goes through it). */
  get hasTracedCalls(): boolean {
    return this.tracedFn !== undefined;
  }

  /**
   * Ask the provider whether it can serve, on libuv's pool (it may block; the caller bounds
   * the wait). Resolves with its code and message; rejects when the native call itself fails.
   */
  health(): Promise<HealthAnswer> {
    const fn = this.healthFn;
    if (!fn) return Promise.resolve({ status: GantryStatus.OK, message: '' });
    const out: RawBuffer = { data: null, len: 0 };
    return new Promise((resolve, reject) => {
      fn.async(this.ctx, out, (err: Error | null, status: number) => {
        if (err) return reject(err);
        resolve({ status, message: Buffer.from(this.take(out)).toString('utf8') });
      });
    });
  }

  /** Pass the instance configuration (JSON). Throws HostError CONFIG_REJECTED. */
  configure(config: Record<string, unknown>): void {
    if (!this.configureFn) return; // optional in the ABI: the provider takes no configuration
    const json = Buffer.from(JSON.stringify(config), 'utf8');
    const err: RawBuffer = { data: null, len: 0 };
    const rc = this.configureFn(this.ctx, json, json.length, err) as number;
    const message = this.take(err);
    if (rc !== GantryStatus.OK) {
      throw new HostError(
        'CONFIG_REJECTED',
        `provider refused its configuration (code ${rc}): ${Buffer.from(message).toString('utf8') || 'no message'}`,
      );
    }
  }

  /** Register the dispatcher. The handler runs on the event loop even when native threads call it. */
  configureDispatch(handler: DispatchHandler): void {
    const cb = koffi.register((_hostCtx: unknown, actor: string, op: string, msg: unknown, len: number | bigint) => {
      try {
        const n = Number(len);
        const data = n > 0 && msg ? new Uint8Array(koffi.view(msg, n)).slice() : EMPTY;
        return handler(actor ?? '', op ?? '', data);
      } catch {
        return GantryStatus.PROVIDER;
      }
    }, koffi.pointer(types.Dispatch));
    this.dispatchCallback = cb;
    const rc = this.configureDispatchFn(this.ctx, cb, null) as number;
    if (rc !== GantryStatus.OK) throw new HostError('DISPATCH_REJECTED', `provider's configure_dispatch returned ${rc}`);
  }

  /** Addresses of the call functions, for the host's call threads (call-pool.ts). */
  callFunctions(): CallFunctions {
    const addr = (v: unknown) => (typeof v === 'bigint' ? v : koffi.address(v));
    return {
      libraryPath: this.path,
      ctx: this.raw.ctx == null ? null : addr(this.raw.ctx),
      handleCall: addr(this.raw.handleCall),
      freeBuffer: addr(this.raw.freeBuffer),
      handleCallTraced: this.raw.handleCallTraced ? addr(this.raw.handleCallTraced) : null,
    };
  }

  /**
   * Run one call on the calling thread, as the host's call threads do (handle_call_traced when
   * the library has it, with `trace` or '' for both values). Only for code that accepts
   * blocking the event loop for the call's duration (benchmarks' baseline, tools); the host
   * itself always uses its call threads.
   */
  callSync(actor: string, op: string, msg: Uint8Array, trace: TraceContext = UNTRACED): { status: number; body: Uint8Array } {
    const reply: RawBuffer = { data: null, len: 0 };
    const status = (
      this.tracedFn
        ? this.tracedFn(this.ctx, actor, op, msg, msg.length, trace.traceparent, trace.tracestate, reply)
        : this.handleCallFn(this.ctx, actor, op, msg, msg.length, reply)
    ) as number;
    return { status, body: this.take(reply) };
  }

  /** Stop the provider, off the event loop (its threads may be waiting on dispatches we must run). */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.stopFn.async(this.ctx, () => {
        if (this.dispatchCallback !== undefined) koffi.unregister(this.dispatchCallback as bigint);
        this.dispatchCallback = undefined;
        resolve();
      });
    });
  }

  /** Copy a provider-owned buffer into JS memory and hand it back to the provider. */
  private take(buf: RawBuffer): Uint8Array {
    const n = Number(buf.len);
    if (!buf.data) return EMPTY;
    const copy = n > 0 ? new Uint8Array(koffi.view(buf.data, n)).slice() : EMPTY;
    this.freeFn(this.ctx, buf.data, buf.len);
    return copy;
  }

  /** Keep the library handle alive for the process lifetime (never dlclose: calls may still run). */
  get library(): LibraryHandle {
    return this.lib;
  }
}
