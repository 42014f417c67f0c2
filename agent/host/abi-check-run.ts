/**
 * The process in which `gantry abi check` runs a provider library (started by abi-check.ts).
 * It loads the library with the host's own loader (NativeProvider, as a provider host does),
 * runs the ABI v1 conformance checks in order and reports each one on file descriptor 3 as a
 * JSON line, written synchronously: when the provider crashes this process, the parent still
 * knows which check was running and names it.
 *
 * The checks and their order are the contract in docs/abi.md ("Check a provider before you
 * publish it"). A failed load check (load, create-symbol, abi-version, table) ends the run,
 * because nothing after it can be trusted; any other failed check is reported and the run
 * goes on.
 */
import { writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import koffi, { type LibraryHandle } from 'koffi';
import { ABI_VERSION, CREATE_SYMBOL, GantryStatus, NativeProvider } from './native.js';
import { HostError } from './errors.js';
import type { AbiCheckName, AbiCheckPlan } from './abi-check.js';

type NativeFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

/** An operation name no provider implements. */
export const UNKNOWN_OP = 'GantryAbiCheckNoSuchOperation';

const plan = JSON.parse(process.argv[2] ?? '{}') as AbiCheckPlan;
const report = (m: object) => writeSync(3, JSON.stringify(m) + '\n');

class CheckFailed extends Error {}
const fail = (why: string): never => {
  throw new CheckFailed(why);
};

/** Stop the run after a failed load check. */
class Fatal extends Error {}

async function check(name: AbiCheckName, body: () => string | Promise<string>, fatal = false): Promise<void> {
  report({ type: 'begin', check: name });
  try {
    const detail = await body();
    report({ type: 'result', check: name, status: 'pass', detail });
  } catch (e) {
    const detail = e instanceof CheckFailed || e instanceof HostError ? e.message : `unexpected error: ${(e as Error).message}`;
    report({ type: 'result', check: name, status: 'fail', detail });
    if (fatal) throw new Fatal(detail);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const libc = koffi.load('libc.so.6');
const strlen = libc.func('size_t strlen(const void *s)') as NativeFn;

/** The bytes of a NUL-terminated string the provider returned, checked to be UTF-8. */
function cString(ptr: unknown, what: string): string {
  if (!ptr) fail(`${what} returned NULL`);
  const n = Number(strlen(ptr));
  const bytes = n > 0 ? new Uint8Array(koffi.view(ptr, n)).slice() : new Uint8Array(0);
  try {
    return utf8.decode(bytes);
  } catch {
    return fail(`${what} is not valid UTF-8 (${n} bytes)`);
  }
}

function message(body: Uint8Array, what: string): string {
  if (body.length === 0) fail(`${what} without a message: put a UTF-8 message for people in the buffer`);
  try {
    return utf8.decode(body);
  } catch {
    return fail(`${what} with a message that is not valid UTF-8`);
  }
}

const Proto = {
  Str: koffi.proto('const void *abicheck_str_fn(void *ctx)'),
  Configure: koffi.proto('int32_t abicheck_configure_fn(void *ctx, const uint8_t *json, size_t len, _Out_ gantry_buffer *error)'),
  HandleCall: koffi.proto(
    'int32_t abicheck_handle_call_fn(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, _Out_ gantry_buffer *reply)',
  ),
  Free: koffi.proto('void abicheck_free_fn(void *ctx, void *data, size_t len)'),
};

/** Status codes handle_call may return (configure's and the dispatcher's are not among them). */
const CALL_CODES = new Set<number>([
  GantryStatus.OK,
  GantryStatus.PROVIDER,
  GantryStatus.BAD_REQUEST,
  GantryStatus.UNKNOWN_OP,
  GantryStatus.UNAUTHORIZED,
  GantryStatus.OVERLOADED,
]);

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
function heapInUse(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = mallinfo2() as { uordblks: number | bigint; hblkhd: number | bigint };
  return Number(m.uordblks) + Number(m.hblkhd);
}

function residentBytes(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

const MiB = 1024 * 1024;

async function run(): Promise<void> {
  let lib!: LibraryHandle;
  let create!: NativeFn;
  let tablePtr: unknown;
  let table!: Record<string, unknown>;
  let provider!: NativeProvider;

  await check(
    'load',
    () => {
      try {
        lib = koffi.load(plan.library);
      } catch (e) {
        fail(`cannot load ${plan.library}: ${(e as Error).message}`);
      }
      return 'opens as a shared library for this machine';
    },
    true,
  );

  await check(
    'create-symbol',
    () => {
      try {
        create = lib.func(CREATE_SYMBOL, 'void *', []) as NativeFn;
      } catch {
        fail(`does not export ${CREATE_SYMBOL}: export it (the SDKs' export macros do), with C linkage and default visibility`);
      }
      tablePtr = create();
      if (!tablePtr) fail(`${CREATE_SYMBOL} returned NULL`);
      return `exports ${CREATE_SYMBOL}, which returns a table`;
    },
    true,
  );

  await check(
    'abi-version',
    () => {
      const version = koffi.decode(tablePtr, 'uint32_t') as number;
      if (version !== ABI_VERSION)
        fail(`the table says ABI v${version}; this host speaks v${ABI_VERSION}: rebuild against providers/gantry_provider.h`);
      return `ABI v${version}`;
    },
    true,
  );

  await check(
    'table',
    () => {
      table = koffi.decode(tablePtr, 'gantry_provider') as Record<string, unknown>;
      const missing = ['capability_id', 'name', 'configure_dispatch', 'handle_call', 'free_buffer', 'stop'].filter((f) => !table[f]);
      if (missing.length) fail(`mandatory function pointers are NULL: ${missing.join(', ')}`);
      if (table.flags !== 0) fail(`flags is ${String(table.flags)}; it is reserved and must be 0`);
      const again = create();
      if (koffi.address(again) !== koffi.address(tablePtr))
        fail(`a second call of ${CREATE_SYMBOL} returned another table: return the same one every time`);
      // The host's own loader, as a provider host runs it.
      provider = NativeProvider.load(plan.library);
      return `all mandatory functions set${table.configure ? '' : ' (configure is NULL: no configuration)'}; the host's loader accepts it`;
    },
    true,
  );

  await check('capability-id', () => {
    const capid = cString((koffi.decode(table.capability_id, Proto.Str) as NativeFn)(table.ctx), 'capability_id()');
    if (capid === '') fail('capability_id() is empty');
    if (capid !== provider.capabilityId) fail(`capability_id() changed between calls ("${capid}", then "${provider.capabilityId}")`);
    if (plan.capid !== undefined && capid !== plan.capid) fail(`capability_id() is "${capid}", expected "${plan.capid}"`);
    return `"${capid}"`;
  });

  await check('name', () => {
    const name = cString((koffi.decode(table.name, Proto.Str) as NativeFn)(table.ctx), 'name()');
    if (name === '') fail('name() is empty');
    return `"${name}"`;
  });

  const freeRaw = koffi.decode(table.free_buffer, Proto.Free) as NativeFn;
  const take = (buf: { data: unknown; len: number | bigint }): Uint8Array => {
    if (!buf.data) return new Uint8Array(0);
    const n = Number(buf.len);
    const copy = n > 0 ? new Uint8Array(koffi.view(buf.data, n)).slice() : new Uint8Array(0);
    freeRaw(table.ctx, buf.data, buf.len);
    return copy;
  };

  await check('configure-bad', () => {
    if (!table.configure) return 'configure is NULL: the provider takes no configuration';
    const configure = koffi.decode(table.configure, Proto.Configure) as NativeFn;
    const bad = Buffer.from('{"gantry-abi-check": [1, 2', 'utf8'); // truncated: not JSON at all
    const err = { data: null, len: 0 };
    const rc = configure(table.ctx, bad, bad.length, err) as number;
    const body = take(err);
    if (rc === GantryStatus.OK) fail('configure accepted malformed JSON: refuse it with GANTRY_ERR_CONFIG (6) and a message');
    if (rc !== GantryStatus.CONFIG) fail(`configure refused malformed JSON with code ${rc}; expected GANTRY_ERR_CONFIG (6)`);
    return `refused with GANTRY_ERR_CONFIG: ${message(body, 'configure refused malformed JSON')}`;
  });

  await check('configure-good', () => {
    provider.configure(plan.config);
    return `accepted ${JSON.stringify(plan.config)}`;
  });

  let dispatches = 0;
  await check('configure-dispatch', () => {
    provider.configureDispatch(() => {
      dispatches++;
      return GantryStatus.OK;
    });
    return 'returned GANTRY_OK';
  });

  // What each exercised operation returned alone; concurrent calls must return the same codes.
  const expected = new Map<string, number>();
  await check('unknown-op', () => {
    const { status, body } = provider.callSync('', UNKNOWN_OP, new Uint8Array(0));
    expected.set(UNKNOWN_OP, status);
    if (status === GantryStatus.OK)
      fail(`operation "${UNKNOWN_OP}" succeeded: an unknown operation must fail with GANTRY_ERR_UNKNOWN_OP (3)`);
    if (status !== GantryStatus.UNKNOWN_OP) fail(`an unknown operation returned code ${status}; expected GANTRY_ERR_UNKNOWN_OP (3)`);
    return `GANTRY_ERR_UNKNOWN_OP: ${message(body, 'an unknown operation failed')}`;
  });

  // The operations every later check exercises: those the user named, and the unknown one.
  const ops = [
    ...plan.ops.map((o) => ({ op: o.op, payload: Buffer.from(o.payload, 'utf8') })),
    { op: UNKNOWN_OP, payload: Buffer.alloc(0) },
  ];

  // Operations that answered the same bytes twice in a row are repeatable: called concurrently
  // they must still answer exactly that (a data race shows up as another reply or code).
  const repeatable = new Map<string, { status: number; body: string }>();
  await check('calls', () => {
    const done: string[] = [];
    const first = new Map<string, { status: number; body: string }>();
    for (const pass of [1, 2]) {
      for (const { op, payload } of ops) {
        const { status, body } = provider.callSync('', op, payload);
        const text = Buffer.from(body).toString('hex');
        if (pass === 1) {
          if (op !== UNKNOWN_OP && status !== GantryStatus.OK)
            fail(`${op} failed with code ${status}: ${Buffer.from(body).toString('utf8') || 'no message'}`);
          first.set(op, { status, body: text });
          if (op !== UNKNOWN_OP) done.push(`${op} → ${body.length} bytes`);
        } else {
          const a = first.get(op)!;
          if (a.status === status && a.body === text) repeatable.set(op, a);
          expected.set(op, status);
          if (a.status !== status) expected.delete(op); // its code depends on state: not compared below
        }
      }
    }
    const rep = [...repeatable.keys()].filter((o) => o !== UNKNOWN_OP);
    if (plan.ops.length === 0) return 'no --op given: only the unknown operation is exercised';
    return `${done.join('; ')}; repeatable: ${rep.length ? rep.join(', ') : 'none'}`;
  });

  const handleCall = koffi.decode(table.handle_call, Proto.HandleCall) as NativeFn;
  const callAsync = (op: string, payload: Uint8Array) =>
    new Promise<{ status: number; body: Uint8Array }>((resolve, reject) => {
      const reply = { data: null, len: 0 };
      handleCall.async(table.ctx, '', op, payload, payload.length, reply, (err: unknown, status: number) => {
        if (err) reject(err as Error);
        else resolve({ status, body: take(reply) });
      });
    });

  await check('concurrent-calls', async () => {
    const threads = plan.threads;
    const perThread = 25;
    let running = 0;
    let maxRunning = 0;
    let failed = false;
    const worker = async (t: number) => {
      for (let i = 0; i < perThread && !failed; i++) {
        const { op, payload } = ops[(t + i) % ops.length]!;
        running++;
        maxRunning = Math.max(maxRunning, running);
        const { status, body } = await callAsync(op, payload);
        running--;
        const want = expected.get(op);
        if (!CALL_CODES.has(status)) fail(`${op} returned code ${status}, which handle_call may not return`);
        // Stateful operations (Incr) may answer differently; their codes must not change.
        if (want !== undefined && status !== want)
          fail(`${op} returned code ${status} when called concurrently (${want} alone): ${Buffer.from(body).toString('utf8')}`);
        const same = repeatable.get(op);
        if (same && Buffer.from(body).toString('hex') !== same.body) {
          fail(
            `${op} answered ${JSON.stringify(Buffer.from(body).toString('utf8').slice(0, 80))} when called concurrently, ${JSON.stringify(Buffer.from(same.body, 'hex').toString('utf8').slice(0, 80))} alone: handle_call is not thread-safe`,
          );
        }
      }
    };
    // The first failure stops every worker, so no call of this check runs into the next one.
    const workers = Array.from({ length: threads }, (_, t) =>
      worker(t).catch((e) => {
        failed = true;
        throw e;
      }),
    );
    const results = await Promise.allSettled(workers);
    const firstFailure = results.find((r) => r.status === 'rejected');
    if (firstFailure) throw (firstFailure as PromiseRejectedResult).reason;
    return `${threads * perThread} calls from ${threads} threads (${maxRunning} at once), ${dispatches} dispatches`;
  });

  await check('large-payload', async () => {
    const sizes = [1 * MiB, plan.largePayloadBytes];
    const done: string[] = [];
    for (const size of sizes) {
      const payload = randomBytes(size);
      for (const { op } of ops) {
        const { status, body } = await callAsync(op, payload);
        if (!CALL_CODES.has(status)) fail(`${op} with ${size} bytes returned code ${status}, which handle_call may not return`);
        if (op === UNKNOWN_OP && status !== expected.get(UNKNOWN_OP))
          fail(`the unknown operation with ${size} bytes returned code ${status} (${expected.get(UNKNOWN_OP)} with none)`);
        done.push(`${op}(${size / MiB} MiB) → ${status}, ${body.length} bytes`);
      }
    }
    return done.join('; ');
  });

  await check('free-buffer', () => {
    // Every reply and error message goes back through free_buffer. Replies are not copied
    // here, so the JS side allocates nothing per call: what the C heap (mallinfo2, all arenas)
    // or the resident set gains over many calls is what the provider kept.
    const reply = { data: null as unknown, len: 0 as number | bigint };
    const payload = Buffer.alloc(64 * 1024, 0x61);
    const round = () => {
      for (const o of ops) {
        reply.data = null;
        reply.len = 0;
        handleCall(
          table.ctx,
          '',
          o.op,
          o.op === UNKNOWN_OP ? payload : o.payload,
          o.op === UNKNOWN_OP ? payload.length : o.payload.length,
          reply,
        );
        if (reply.data) freeRaw(table.ctx, reply.data, reply.len);
      }
    };
    for (let i = 0; i < 16; i++) round();
    const heap0 = heapInUse();
    const rss0 = residentBytes();
    const rounds = plan.leakRounds;
    for (let i = 0; i < rounds; i++) round();
    const heap = heapInUse() - heap0;
    const rss = residentBytes() - rss0;
    const calls = rounds * ops.length;
    const mib = (n: number) => `${n >= 0 ? '+' : ''}${(n / MiB).toFixed(1)} MiB`;
    if (heap > plan.leakLimitBytes || rss > 2 * plan.leakLimitBytes) {
      fail(
        `over ${calls} calls the C heap grew ${mib(heap)} and the resident set ${mib(rss)} (limits ${mib(plan.leakLimitBytes)}, ${mib(2 * plan.leakLimitBytes)}): buffers are not released by free_buffer, or an operation leaks`,
      );
    }
    return `${calls} calls: C heap ${mib(heap)}, resident set ${mib(rss)}`;
  });

  await check('stop-unload', async () => {
    await provider.stop();
    lib.unload();
    provider.library.unload();
    // Give threads the provider forgot to join a moment to run into the unloaded code.
    await new Promise((r) => setTimeout(r, 300));
    return 'stop returned, library unloaded, process still alive';
  });
}

run().then(
  () => process.exit(0),
  (e) => {
    if (!(e instanceof Fatal)) report({ type: 'error', message: (e as Error).message });
    process.exit(0);
  },
);
