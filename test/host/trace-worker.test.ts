/**
 * A host call thread (dist/agent/host/call-worker.js, the worker the host's CallPool runs)
 * handed batches of traced and untraced calls, as the pool sends them: a C provider with
 * handle_call_traced sees exactly the trace context of its call ('' for both when untraced),
 * traced calls come back with the native call's times and untraced ones with 0/0; libraries
 * without the extension (C keyvalue, a table of the header before it) keep serving through
 * their handle_call.
 *
 * C libraries only: this loads them into the test process itself. The Rust and Go SDKs'
 * libraries are checked the way they run, each in a real host process
 * (trace-provider.test.ts): a Go runtime loaded into vitest's own worker crashed it once with
 * SIGSEGV (issue 33's CI run), which a host process contains and a test runner does not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchCall, BatchResult } from '../../agent/host/call-worker.js';
import { NativeProvider } from '../../agent/host/native.js';
import { packageRoot } from '../../runtime/paths.js';
import { compileTable } from '../abi/table-fixture.js';
import { buildProviders, providerLib, text } from './helpers.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TS = 'gantry=h1,vendor="x\\y"';
const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
/** sampled, with another flag bit beside it: still timed (only the sampled bit counts) */
const TP3 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03';

const workers: Worker[] = [];
let dir: string;
beforeAll(() => {
  buildProviders();
  dir = mkdtempSync(join(tmpdir(), 'gantry-trace-worker-'));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  rmSync(dir, { recursive: true, force: true });
});

/** A call thread on the library, loaded and configured by the host's own loader. */
function callThread(lib: string, config: Record<string, unknown> = {}): (batch: BatchCall[]) => Promise<BatchResult[]> {
  const p = NativeProvider.load(lib);
  p.configure(config);
  const w = new Worker(join(packageRoot(), 'dist/agent/host/call-worker.js'), { workerData: p.callFunctions() });
  workers.push(w);
  return (batch) =>
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.postMessage(batch);
    });
}

const call = (id: number, op: string, payload: string, traceparent = '', tracestate = ''): BatchCall => [
  id,
  '',
  op,
  Buffer.from(payload),
  traceparent,
  tracestate,
];
const seen = (r: BatchResult) => ({ status: r[1], body: JSON.parse(text(r[2])) as unknown });
const timed = (r: BatchResult) => r[3] > 0 && r[4] >= r[3];

describe.each([['C (echo.c)', 'echo']])('%s: handle_call_traced', (_what, lib) => {
  it('sees exactly the trace context of its own call, traced and untraced calls mixed in one batch', async () => {
    const run = callThread(providerLib(lib));
    const before = performance.timeOrigin + performance.now();
    const out = await run([
      call(1, 'TraceContext', '', TP, TS),
      call(2, 'TraceContext', ''),
      call(3, 'TraceContext', '', TP2, ''),
      call(4, 'TraceContext', ''),
      call(5, 'TraceContext', '', TP3, ''),
    ]);
    expect(out.map((r) => r[0])).toEqual([1, 2, 3, 4, 5]);
    expect(out.map(seen)).toEqual([
      { status: 0, body: { traceparent: TP, tracestate: TS } },
      { status: 0, body: { traceparent: '', tracestate: '' } },
      { status: 0, body: { traceparent: TP2, tracestate: '' } },
      { status: 0, body: { traceparent: '', tracestate: '' } },
      { status: 0, body: { traceparent: TP3, tracestate: '' } },
    ]);
    // sampled calls carry the native call's epoch times from the call thread; untraced 0/0, and
    // so is a sampled-out one (flags 00): the provider gets its context, nobody records its times
    expect(out.map(timed)).toEqual([true, false, false, false, true]);
    expect(out[0]![3]).toBeGreaterThanOrEqual(Math.floor(before));
    expect([out[1]![3], out[1]![4], out[2]![3], out[2]![4], out[3]![3], out[3]![4]]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('its other operations answer as before, traced or not (the trace context changes no reply)', async () => {
    const run = callThread(providerLib(lib));
    const [op, payload] = ['Echo', 'hi'];
    const out = await run([call(1, op, payload, TP, TS), call(2, op, payload), call(3, 'NoSuchOp', '', TP, TS)]);
    expect(text(out[0]![2])).toBe(text(out[1]![2]));
    expect([out[0]![1], out[1]![1], out[2]![1]]).toEqual([0, 0, 3]);
  });
});

describe('libraries without the extension serve every call through handle_call', () => {
  it('C keyvalue (flags 0): traced calls are served and timed; it has no TraceContext', async () => {
    const run = callThread(providerLib('keyvalue'));
    const out = await run([
      call(1, 'Set', '{"key":"a","value":7}', TP, TS),
      call(2, 'Get', '{"key":"a"}'),
      call(3, 'TraceContext', '', TP),
    ]);
    expect(out.map((r) => [r[1], text(r[2])])).toEqual([
      [0, '{"ok":true}'],
      [0, '{"value":7}'],
      [3, 'keyvalue has no operation "TraceContext" (Set, Get, Del, Keys, Incr)'],
    ]);
    expect(out.map(timed)).toEqual([true, false, true]);
  });

  it('a table of the header before handle_call_traced (ext_size covers health only): the word after health is never called', async () => {
    const run = callThread(compileTable(dir, 'health-only', { flags: 1, extSize: 16, traced: true }));
    const out = await run([call(1, 'Any', '', TP, TS), call(2, 'Any', '')]);
    // handle_call's empty reply; handle_call_traced would have answered "traced …"
    expect(out.map((r) => [r[1], r[2].byteLength])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});
