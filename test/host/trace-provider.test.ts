/**
 * The trace context crosses a real provider host process to the provider (real nats-server
 * with the membrane, host processes with tracing on, exporting to a local OTLP/HTTP sink): a
 * request carrying a W3C `traceparent` header reaches the C, Rust and Go providers as the
 * context of the host's `gantry.host.call` span — the caller's trace id, a span id of its own
 * (the host's span, a child of the caller's), the caller's tracestate — and a request without
 * one starts a trace at the host; one the caller sampled out (flags 00) reaches them as the
 * caller sent it (no host span); a host with tracing off hands them "" for both. Libraries without the extension serve traced calls as before.
 *
 * The host's side (extracting the headers in serve.ts, the span, passing its context through
 * call-pool.ts) is T1's part of issue 33; this file states the contract end to end.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerKey } from '../../client/nats.js';
import { ANONYMOUS_CALLER, callSubjectFor, HEADER_TIMEOUT, providerSubject } from '../../client/protocol.js';
import { compileTable } from '../abi/table-fixture.js';
import { NS, makeHost, providerLib, text, useHostWorld } from './helpers.js';

const world = useHostWorld();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const W3C = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

let sink: Server;
let dir: string;
/** Tracing on in every host process: OTLP over HTTP to a local sink that takes and drops spans. */
let tracingEnv: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-trace-provider-'));
  sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  tracingEnv = {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`,
  };
});
afterAll(async () => {
  await new Promise((r) => sink.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** One request to the provider, with the trace headers given (none when omitted). */
async function request(provider: string, op: string, payload: string, trace?: Record<string, string>) {
  const h = natsHeaders();
  h.set(HEADER_TIMEOUT, '5000');
  for (const [k, v] of Object.entries(trace ?? {})) h.set(k, v);
  const subject = callSubjectFor(providerSubject(NS, provider), op, callerKey(world.nc) ?? ANONYMOUS_CALLER);
  const msg = await world.nc.request(subject, new TextEncoder().encode(payload), { headers: h, timeout: 5000 });
  return { error: msg.headers?.get('Gantry-Error') ?? '', body: text(msg.data) };
}

const traced = { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, tracestate: 'caller=t61rcWkgMzE' };

describe.each([
  ['C (echo.c)', 'echo', 'gantry:echo'],
  ['Rust SDK (keyvalue-rs)', 'keyvalue-rs', 'wascap:keyvalue'],
  ['Go SDK (echo-go)', 'echo-go', 'gantry:echo'],
])('%s behind a host process', (_what, lib, capid) => {
  const provider = `trace-${lib}`;
  beforeAll(async () => {
    const spec = { provider, instance: `${provider}-0`, libraryPath: providerLib(lib), expectedCapid: capid };
    await makeHost(world.nats.url, spec, { env: tracingEnv }).start();
  });

  it('a traced request reaches the provider as the host span: same trace id, the host span id, the caller tracestate', async () => {
    const r = await request(provider, 'TraceContext', '', traced);
    expect(r.error).toBe('');
    const seen = JSON.parse(r.body) as { traceparent: string; tracestate: string };
    const [, traceId, spanId] = W3C.exec(seen.traceparent) ?? [];
    expect(traceId).toBe(TRACE_ID);
    // the host's gantry.host.call span, not the caller's: a provider's spans are the host span's children
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spanId).not.toBe(CALLER_SPAN);
    expect(seen.tracestate).toBe(traced.tracestate);
  });

  it('a request its caller sampled out (flags 00) reaches the provider as the caller sent it: the host makes no span of its own', async () => {
    // the host's sampler is the default parentbased_always_on: it follows the caller's "no"
    const dropped = { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-00`, tracestate: traced.tracestate };
    const r = await request(provider, 'TraceContext', '', dropped);
    expect(r.error).toBe('');
    expect(JSON.parse(r.body)).toEqual(dropped);
  });

  it('a request without trace context starts a trace at the host: the provider sees that new root', async () => {
    const r = await request(provider, 'TraceContext', '');
    const seen = JSON.parse(r.body) as { traceparent: string; tracestate: string };
    const [, traceId] = W3C.exec(seen.traceparent) ?? [];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe(TRACE_ID);
    expect(seen.tracestate).toBe('');
  });
});

describe('a host with tracing off', () => {
  it('hands "" for both to handle_call_traced, even when the caller sent a traceparent', async () => {
    const spec = { provider: 'trace-off', instance: 'trace-off-0', libraryPath: providerLib('echo'), expectedCapid: 'gantry:echo' };
    await makeHost(world.nats.url, spec).start();
    for (const trace of [undefined, traced]) {
      const r = await request('trace-off', 'TraceContext', '', trace);
      expect(JSON.parse(r.body)).toEqual({ traceparent: '', tracestate: '' });
    }
  });
});

describe('libraries without the extension, behind a host process with tracing on', () => {
  it('C keyvalue (flags 0) serves traced and untraced calls alike', async () => {
    await makeHost(
      world.nats.url,
      { provider: 'trace-kv', instance: 'trace-kv-0', libraryPath: providerLib('keyvalue') },
      { env: tracingEnv },
    ).start();
    expect(await request('trace-kv', 'Set', '{"key":"a","value":1}', traced)).toEqual({ error: '', body: '{"ok":true}' });
    expect(await request('trace-kv', 'Get', '{"key":"a"}')).toEqual({ error: '', body: '{"value":1}' });
  });

  it('a table of the header before handle_call_traced (ext_size covers health only) is served through handle_call', async () => {
    const lib = compileTable(dir, 'health-only', { flags: 1, extSize: 16, traced: true, healthy: true });
    await makeHost(
      world.nats.url,
      { provider: 'trace-old', instance: 'trace-old-0', libraryPath: lib, expectedCapid: 'test:ext' },
      { env: tracingEnv },
    ).start();
    expect(await request('trace-old', 'Any', '', traced)).toEqual({ error: '', body: '' });
  });
});

describe("the SDKs' edge cases, each in a host process with tracing on", () => {
  it('Rust: a panic in a traced call is a provider error, and the next call sees its own trace, not the panicked one', async () => {
    const spec = {
      provider: 'trace-panicky-rs',
      instance: 'trace-panicky-rs-0',
      libraryPath: providerLib('panicky-rs'),
      expectedCapid: 'gantry:panicky',
    };
    await makeHost(world.nats.url, spec, { env: tracingEnv }).start();
    const panicked = await request('trace-panicky-rs', 'Panic', '', traced);
    expect(panicked.error).toBe('PROVIDER_ERROR');
    const other = '0af7651916cd43dd8448eb211c80319c';
    const next = await request('trace-panicky-rs', 'TraceContext', '', {
      traceparent: `00-${other}-b7ad6b7169203331-01`,
      tracestate: 'a=b',
    });
    const seen = JSON.parse(next.body) as { traceparent: string; tracestate: string };
    expect(W3C.exec(seen.traceparent)?.[1]).toBe(other);
    expect(seen.tracestate).toBe('a=b');
  });

  it("Go: a provider without HandleCallContext is still called through the SDK's table, and has no TraceContext", async () => {
    const spec = {
      provider: 'trace-panicky-go',
      instance: 'trace-panicky-go-0',
      libraryPath: providerLib('panicky-go'),
      expectedCapid: 'gantry:panicky',
    };
    await makeHost(world.nats.url, spec, { env: tracingEnv }).start();
    expect(await request('trace-panicky-go', 'Count', '', traced)).toEqual({ error: '', body: '1' });
    expect((await request('trace-panicky-go', 'TraceContext', '', traced)).error).toBe('PROVIDER_ERROR');
  });
});
