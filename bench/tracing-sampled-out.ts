/**
 * What a sampled-out call costs each side, in this process: the SDK registered with
 * parentbased_traceidratio at 0 (every root dropped), then per call the caller's part
 * (traceCall with injectCallTrace inside, around an immediate result) and the host's part
 * (startHostCall from a request carrying a traceparent with flags 00, recordProviderCall,
 * endHostCall), against the same with tracing off and with every call sampled.
 *
 * Run: npm run build && node dist/bench/tracing-sampled-out.js
 */
import { headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import {
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { injectCallTrace, traceCall } from '../client/trace.js';
import { endHostCall, recordProviderCall, startHostCall } from '../agent/host/call-trace.js';
import { registerTracing, tracingEnabled } from '../runtime/tracing/index.js';
import type { HostSpec } from '../agent/host/spec.js';

const N = 200_000;
const spec = { namespace: 'default', provider: 'kv', instance: 'kv-1' } as HostSpec;
const result = { instance: 'kv-1', attempts: 1 };

async function caller(): Promise<number> {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    await traceCall(
      { namespace: 'default', provider: 'kv', op: 'Get' },
      () => 'gantry.default.kv.Get',
      async () => {
        injectCallTrace(natsHeaders());
        return result;
      },
    );
  }
  return Number(process.hrtime.bigint() - t) / N;
}

function host(traceparent: string): number {
  const h = natsHeaders();
  if (traceparent) h.set('traceparent', traceparent);
  const msg = { subject: 'gantry.default.kv.Get', headers: h } as unknown as Msg;
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const tr = tracingEnabled() ? startHostCall(msg, spec, 'Get') : undefined;
    if (tr) {
      const now = performance.timeOrigin + performance.now();
      recordProviderCall(tr, now, now, 0);
      endHostCall(tr);
    }
  }
  return Number(process.hrtime.bigint() - t) / N;
}

async function side(label: string, tp: string): Promise<void> {
  let c = 0;
  let hst = 0;
  for (let round = 0; round < 3; round++) [c, hst] = [await caller(), host(tp)]; // the last of 3: warmed up
  console.log(`${label.padEnd(34)} caller ${c.toFixed(0).padStart(6)} ns/call   host ${hst.toFixed(0).padStart(6)} ns/call`);
}

const DROPPED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
await side('tracing off', DROPPED);
const exporter = new InMemorySpanExporter();
let tracing = await registerTracing(
  new TracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  }),
  { parentBased: true },
);
await side('sampled out (ratio 0, flags 00)', DROPPED);
if (exporter.getFinishedSpans().length) throw new Error('a sampled-out call exported spans');
await tracing.shutdown();
// spans recorded and ended, then dropped (an exporter holding them all would run out of memory)
const discard = { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} };
tracing = await registerTracing(
  new TracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), spanProcessors: [discard] }),
);
await side('sampled (always_on, flags 01)', SAMPLED);
await tracing.shutdown();
