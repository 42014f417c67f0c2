/**
 * bench/host-calls.ts's tracing sides: the same keyvalue Get load with tracing on — the caller
 * and the host both exporting OTLP (http/protobuf) to a real OpenTelemetry Collector
 * (scripts/otelcol.sh), sampler parentbased_always_on, so every call is a whole trace — and
 * with the caller sampling 1 %, beside tracing off (the SDK never loaded), in alternating
 * halves of one run. A process loads the SDK
 * or it does not, so both sides call from a child process of their own (`--caller`).
 *
 * Also what tracing off adds to a call: the @opentelemetry/api no-op calls a call path makes
 * (a span started, attributes set, ended; context injected into and extracted from headers),
 * timed in a loop against what one call costs at the host's measured rate (the budget: 3 %).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { natsConnectionOptions } from '../client/nats.js';
import { startTracing } from '../runtime/tracing/setup.js';
import { Attrs, extractTrace, injectTrace, Spans, tracer } from '../runtime/tracing/index.js';
import { type Collector, otelcolBinary, startCollector } from './support/otelcol.js';
import { load, type Result, sum } from './host-calls-load.js';

/** The child's side (`host-calls.js --caller URL PROVIDER SECONDS [CREDS] [CALLER_KEY]`): one load, its result over IPC. */
export async function runCaller(argv: string[]): Promise<void> {
  const [url, provider, seconds, credsFile, caller] = argv;
  const tracing = await startTracing('gantry-cli');
  const nc = await connect({ ...natsConnectionOptions({ servers: url!, credsFile: credsFile || undefined }), noAsyncTraces: true });
  const result = await load(nc, provider!, Number(seconds), caller || undefined);
  await nc.close();
  await tracing.shutdown();
  process.send?.({ result, traced: tracing.enabled }, () => process.exit(0));
}

export interface TracingBench {
  collector: Collector;
  /** The env a host traced for the bench starts with (OTEL_* to the collector). */
  hostEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** The collector, or undefined (said on stderr) when scripts/otelcol.sh has not built it. */
export async function startTracingBench(): Promise<TracingBench | undefined> {
  const bin = otelcolBinary();
  if (!existsSync(bin)) {
    console.error(`host-traced side skipped: no collector at ${bin} (run scripts/otelcol.sh)`);
    return undefined;
  }
  const collector = await startCollector();
  const hostEnv = { ...collector.env('http/protobuf'), OTEL_TRACES_SAMPLER: 'parentbased_always_on' };
  return { collector, hostEnv, stop: () => collector.stop() };
}

/** This process's environment without OTEL_*: the untraced side never loads the SDK whatever the shell set. */
function untracedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
}

async function forkCaller(
  env: NodeJS.ProcessEnv,
  o: { url: string; provider: string; seconds: number; creds?: string; caller?: string },
): Promise<{ result: Result; traced: boolean }> {
  const args = ['--caller', o.url, o.provider, String(o.seconds), o.creds ?? '', o.caller ?? ''];
  const child: ChildProcess = fork(fileURLToPath(new URL('./host-calls.js', import.meta.url)), args, {
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as { result: Result; traced: boolean }));
    child.once('exit', (c) => reject(new Error(`bench caller exited with ${c} before reporting`)));
  });
}

type Side = 'off' | 'on' | 'sampled';
type TracingRuns = Record<Side, Result[]> & {
  /** the host process's CPU (all its threads) per side, in clock ticks: what a call costs the host */
  hostTicks: Record<Side, number>;
};

/** utime + stime of a process, in clock ticks (Linux /proc; 0 elsewhere or without a pid). */
function cpuTicks(pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return 0;
  // the fields after the command name, which is in parentheses and may hold spaces
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/**
 * Untraced (kv-host), traced (kv-host-traced, every call) and sampled (the same host, the
 * caller keeping 1 % of traces: the host follows the caller's decision), from a caller process
 * each, in two alternating halves.
 */
export async function measureTracing(
  bench: TracingBench,
  o: { url: string; seconds: number; creds?: string; caller?: string },
  hostPids: { off?: number; traced?: number } = {},
): Promise<TracingRuns> {
  const runs: TracingRuns = { off: [], on: [], sampled: [], hostTicks: { off: 0, on: 0, sampled: 0 } };
  const hostCpu = async (side: Side, pid: number | undefined, f: () => Promise<Result>) => {
    const before = cpuTicks(pid);
    runs[side].push(await f());
    runs.hostTicks[side] += cpuTicks(pid) - before;
  };
  const tracedEnv = { ...untracedEnv(), ...bench.hostEnv };
  const sampledEnv = { ...tracedEnv, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' };
  const half = o.seconds / 2;
  for (let i = 0; i < 2; i++) {
    await hostCpu('off', hostPids.off, async () => {
      const off = await forkCaller(untracedEnv(), { ...o, provider: 'kv-host', seconds: half });
      if (off.traced) throw new Error('the untraced caller traced');
      return off.result;
    });
    for (const [side, env] of [
      ['on', tracedEnv],
      ['sampled', sampledEnv],
    ] as const) {
      await hostCpu(side, hostPids.traced, async () => {
        const r = await forkCaller(env, { ...o, provider: 'kv-host-traced', seconds: half });
        if (!r.traced) throw new Error(`the ${side} caller did not start tracing`);
        return r.result;
      });
    }
  }
  return runs;
}

export function printTracing(runs: TracingRuns, bench: TracingBench): void {
  const [off, on, sampled] = [sum(runs.off), sum(runs.on), sum(runs.sampled)];
  const spans = bench.collector.spans();
  const traces = new Set(spans.map((s) => s.traceId)).size;
  const line = (label: string, r: ReturnType<typeof sum>) =>
    `${label}${r.rate.toFixed(0).padStart(7)} calls/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`;
  console.log(line('host-untraced   caller process + C host, tracing off (SDK never loaded): ', off));
  console.log(line('host-traced     caller + host tracing every call to a real collector:  ', on));
  console.log(line('host-sampled    the same, the caller sampling 1 % (traceidratio 0.01):  ', sampled));
  const ratio = (r: ReturnType<typeof sum>) =>
    `${(r.rate / off.rate).toFixed(3)}; p50 ${(r.p50 / off.p50).toFixed(2)}, p99 ${(r.p99 / off.p99).toFixed(2)}`;
  console.log(`ratio traced/untraced throughput: ${ratio(on)} (the collector received ${spans.length} spans in ${traces} traces)`);
  console.log(`ratio sampled/untraced throughput: ${ratio(sampled)}`);
  // the host's own cost, whoever bounds the throughput (one caller process usually does here)
  const tick = 1e6 / 100; // µs per clock tick (USER_HZ is 100 on Linux)
  const perCall = (side: Side) => (runs.hostTicks[side] * tick) / runs[side].reduce((a, r) => a + r.calls, 0);
  if (runs.hostTicks.off > 0) {
    const [o, t, s] = [perCall('off'), perCall('on'), perCall('sampled')];
    console.log(
      `host CPU per call (its process, all threads): off ${o.toFixed(1)} µs, traced ${t.toFixed(1)} µs (${(t / o).toFixed(2)}×), sampled 1 % ${s.toFixed(1)} µs (${(s / o).toFixed(2)}×)`,
    );
  }
}

/** What tracing off adds to one call: the no-op API calls of a call path, per call, against the call's cost at `hostRate`. */
export function tracingOffCost(hostRate: number): void {
  const N = 1_000_000;
  const h = natsHeaders();
  let perCall = 0;
  for (let round = 0; round < 2; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      // caller and host each: a span (started, an attribute, ended) and the headers' context
      const span = tracer().startSpan(Spans.call);
      span.setAttribute(Attrs.operation, 'Get');
      injectTrace(h);
      span.end();
      const parent = extractTrace(h);
      tracer().startSpan(Spans.hostCall, {}, parent).end();
    }
    perCall = Number(process.hrtime.bigint() - t) / N; // the first round warms up
  }
  const budgetNs = 1e9 / hostRate;
  console.log(
    `tracing off per call (no-op @opentelemetry/api: 2 spans, inject + extract, ${N} calls): ${perCall.toFixed(0)} ns, ${((100 * perCall) / budgetNs).toFixed(2)} % of a call's ${(budgetNs / 1000).toFixed(1)} µs at the host's measured rate (budget: off within 3 %)`,
  );
}
