/**
 * The process in which `gantry abi check` runs a provider library (started by abi-check.ts).
 * It loads the library with the host's own loader (NativeProvider, as a provider host does),
 * runs the ABI v1 conformance checks in order and reports each one on file descriptor 3 as a
 * JSON line, written synchronously: when the provider crashes this process, the parent still
 * knows which check was running and names it.
 *
 * The checks and their order are the contract in docs/abi.md ("Check a provider before you
 * publish it"). A failed load check (load, create-symbol, abi-version, table, extensions) ends the run,
 * because nothing after it can be trusted; any other failed check is reported and the run
 * goes on. What the checks read below the host's loader is in abi-check-native.ts.
 */
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import koffi, { type LibraryHandle } from 'koffi';
import type { AbiCheckName, AbiCheckPlan } from './abi-check.js';
import {
  CALL_CODES,
  CheckFailed,
  cString,
  DirectCalls,
  fail,
  heapInUse,
  MiB,
  message,
  type NativeFn,
  Proto,
  residentBytes,
} from './abi-check-native.js';
import { extensionsCheck, healthCheck, tracedCallsCheck } from './abi-check-health.js';
import { HostError } from './errors.js';
import { ABI_VERSION, CREATE_SYMBOL, GantryStatus, type NativeProvider } from './native.js';

/** An operation name no provider implements. */
export const UNKNOWN_OP = 'GantryAbiCheckNoSuchOperation';

const plan = JSON.parse(process.argv[2] ?? '{}') as AbiCheckPlan;
const report = (m: object) => writeSync(3, JSON.stringify(m) + '\n');

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

/** What the load checks hand the others: the library, its table, and the host's loader on it. */
interface Loaded {
  lib: LibraryHandle;
  table: Record<string, unknown>;
  provider: NativeProvider;
}

/** An operation every check after `calls` exercises: those the user named, and the unknown one. */
interface Exercised {
  op: string;
  payload: Buffer;
}

/** What `unknown-op` and `calls` saw each operation return alone, for the concurrent checks to compare. */
interface Baseline {
  /** the status code of each operation whose code did not change between two calls */
  expected: Map<string, number>;
  /** operations that answered the same bytes twice in a row: called concurrently they must still */
  repeatable: Map<string, { status: number; body: string }>;
}

async function run(): Promise<void> {
  const loaded = await loadChecks();
  const direct = new DirectCalls(loaded.table, loaded.provider.callFunctions().handleCallTraced);
  await identityChecks(loaded);
  const dispatches = await configureChecks(loaded, direct);
  // The operations every later check exercises: those the user named, and the unknown one.
  const ops: Exercised[] = [
    ...plan.ops.map((o) => ({ op: o.op, payload: Buffer.from(o.payload, 'utf8') })),
    { op: UNKNOWN_OP, payload: Buffer.alloc(0) },
  ];
  const baseline = await callChecks(loaded.provider, ops);
  await check('traced-calls', () => tracedCallsCheck(loaded.provider, ops, baseline.expected));
  await concurrentCallsCheck(direct, ops, baseline, dispatches);
  await largePayloadCheck(direct, ops, baseline);
  await freeBufferCheck(direct, ops);
  await stopUnloadCheck(loaded);
}

/** load, create-symbol, abi-version, table, extensions: each one's failure ends the run. */
async function loadChecks(): Promise<Loaded> {
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
      const again = create();
      if (koffi.address(again) !== koffi.address(tablePtr))
        fail(`a second call of ${CREATE_SYMBOL} returned another table: return the same one every time`);
      return `all mandatory functions set${table.configure ? '' : ' (configure is NULL: no configuration)'}`;
    },
    true,
  );

  // The host's own loader, as a provider host runs it: flags and the extension block.
  await check(
    'extensions',
    () => {
      const r = extensionsCheck(plan.library);
      provider = r.provider;
      return r.detail;
    },
    true,
  );
  return { lib, table, provider };
}

/** capability-id, name: non-empty UTF-8, the capid stable and as expected. */
async function identityChecks({ table, provider }: Loaded): Promise<void> {
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
}

/** configure-bad, configure-good, configure-dispatch; what the dispatcher counts (calls of it so far). */
async function configureChecks({ table, provider }: Loaded, direct: DirectCalls): Promise<{ count: number }> {
  await check('configure-bad', () => {
    if (!table.configure) return 'configure is NULL: the provider takes no configuration';
    const configure = koffi.decode(table.configure, Proto.Configure) as NativeFn;
    const bad = Buffer.from('{"gantry-abi-check": [1, 2', 'utf8'); // truncated: not JSON at all
    const err = { data: null, len: 0 };
    const rc = configure(table.ctx, bad, bad.length, err) as number;
    const body = direct.take(err);
    if (rc === GantryStatus.OK) fail('configure accepted malformed JSON: refuse it with GANTRY_ERR_CONFIG (6) and a message');
    if (rc !== GantryStatus.CONFIG) fail(`configure refused malformed JSON with code ${rc}; expected GANTRY_ERR_CONFIG (6)`);
    return `refused with GANTRY_ERR_CONFIG: ${message(body, 'configure refused malformed JSON')}`;
  });

  await check('configure-good', () => {
    provider.configure(plan.config);
    return `accepted ${JSON.stringify(plan.config)}`;
  });

  const dispatches = { count: 0 };
  await check('configure-dispatch', () => {
    provider.configureDispatch(() => {
      dispatches.count++;
      return GantryStatus.OK;
    });
    return 'returned GANTRY_OK';
  });
  await check('health', () => healthCheck(provider));
  return dispatches;
}

/** unknown-op, calls: each operation alone, twice, through the host's loader. */
async function callChecks(provider: NativeProvider, ops: Exercised[]): Promise<Baseline> {
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
  return { expected, repeatable };
}

/** concurrent-calls: `plan.threads` callers at once must see the codes and replies of the calls alone. */
async function concurrentCallsCheck(direct: DirectCalls, ops: Exercised[], b: Baseline, dispatches: { count: number }): Promise<void> {
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
        const { status, body } = await direct.call(op, payload);
        running--;
        compareWithBaseline(op, status, body, b);
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
    return `${threads * perThread} calls from ${threads} threads (${maxRunning} at once), ${dispatches.count} dispatches`;
  });
}

/** One concurrent call's answer against the same operation's alone. */
function compareWithBaseline(op: string, status: number, body: Uint8Array, { expected, repeatable }: Baseline): void {
  const want = expected.get(op);
  if (!CALL_CODES.has(status)) fail(`${op} returned code ${status}, which handle_call may not return`);
  // Stateful operations (Incr) may answer differently; their codes must not change.
  if (want !== undefined && status !== want)
    fail(`${op} returned code ${status} when called concurrently (${want} alone): ${Buffer.from(body).toString('utf8')}`);
  const same = repeatable.get(op);
  if (same && Buffer.from(body).toString('hex') !== same.body) {
    const concurrently = JSON.stringify(Buffer.from(body).toString('utf8').slice(0, 80));
    const alone = JSON.stringify(Buffer.from(same.body, 'hex').toString('utf8').slice(0, 80));
    fail(`${op} answered ${concurrently} when called concurrently, ${alone} alone: handle_call is not thread-safe`);
  }
}

/** large-payload: 1 MiB and `plan.largePayloadBytes` to every operation. */
async function largePayloadCheck(direct: DirectCalls, ops: Exercised[], { expected }: Baseline): Promise<void> {
  await check('large-payload', async () => {
    const sizes = [1 * MiB, plan.largePayloadBytes];
    const done: string[] = [];
    for (const size of sizes) {
      const payload = randomBytes(size);
      for (const { op } of ops) {
        const { status, body } = await direct.call(op, payload);
        if (!CALL_CODES.has(status)) fail(`${op} with ${size} bytes returned code ${status}, which handle_call may not return`);
        if (op === UNKNOWN_OP && status !== expected.get(UNKNOWN_OP))
          fail(`the unknown operation with ${size} bytes returned code ${status} (${expected.get(UNKNOWN_OP)} with none)`);
        done.push(`${op}(${size / MiB} MiB) → ${status}, ${body.length} bytes`);
      }
    }
    return done.join('; ');
  });
}

/** free-buffer: many rounds of every operation leave the C heap and the resident set where they were. */
async function freeBufferCheck(direct: DirectCalls, ops: Exercised[]): Promise<void> {
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
        const msg = o.op === UNKNOWN_OP ? payload : o.payload;
        direct.callNow(o.op, msg, reply);
        if (reply.data) direct.free(reply);
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
        `over ${calls} calls the C heap grew ${mib(heap)} and the resident set ${mib(rss)} ` +
          `(limits ${mib(plan.leakLimitBytes)}, ${mib(2 * plan.leakLimitBytes)}): ` +
          'buffers are not released by free_buffer, or an operation leaks',
      );
    }
    return `${calls} calls: C heap ${mib(heap)}, resident set ${mib(rss)}`;
  });
}

/** stop-unload: stop, dlclose, and the process lives on. */
async function stopUnloadCheck({ lib, provider }: Loaded): Promise<void> {
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
