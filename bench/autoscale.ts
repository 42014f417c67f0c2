/**
 * Autoscaling with the calls (issue 32), in one run on one world (bench/autoscale/world.ts:
 * real nats-server with the membrane, docker-registry, one in-process agent whose C echo hosts
 * are their own processes, the in-process controller with its autoscaler and activation
 * responder; the API server is the in-process emulator):
 *
 *  1. A step from 0 to `--rate` calls/s and back: a Provider with spec.autoscale (minReplicas 0,
 *     maxReplicas `--max`, targetCallsPerSecondPerInstance `--target`, short stabilization and
 *     scale-to-zero) at zero replicas gets an open-loop paced load from its own process
 *     (bench/autoscale/load.ts) for `--seconds`, then none. Printed: the rate reached, seconds
 *     from the step until replicas reached the steady recommendation and that many instances
 *     were Running, call latency (whole step, its first seconds, steady), calls sent and failed
 *     by code, and seconds from the load's end until zero replicas and zero instances.
 *  2. The first call's latency from zero — call → NO_RESPONDERS → activation → 0→1 → host start
 *     → answer — over `--rounds` rounds (back to zero in between), beside the baseline measured
 *     in the same rounds: `created → Running, cached` (a ProviderInstance created directly, the
 *     archive already on the node, as bench/agent-coldstart.ts labels it) and the same start
 *     through the Provider (`replicas 0→1 → Running`, scale subresource). Goal: the first call
 *     within cold start + 200 ms.
 *
 * The autoscaler runs on the products' defaults (decisions every 1 s over a 6 s window, hosts
 * reporting every 1 s) unless --interval/--window/--report (ms) say otherwise.
 *
 * Run: npm run build && make -C providers && node dist/bench/autoscale.js [--rate N] [--seconds N] [--target N] [--max N] [--rounds N] [--retries N]
 */
import { fork } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CallError, callProvider } from '../client/call.js';
import { connectNats } from '../client/nats.js';
import type { LoadPlan, LoadResult } from './autoscale/load.js';
import { APP, AutoscaleWorld, type Change, instancesPath, NODE, providersPath, waitFor } from './autoscale/world.js';
import { hostTarget } from '../agent/target.js';
import { median } from './timing.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface StepConfig {
  rate: number;
  seconds: number;
  target: number;
  max: number;
  retries: number;
}

/** The load generator's process: resolves with its result once every call it sent has ended. */
async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const here = dirname(fileURLToPath(import.meta.url));
  const child = fork(join(here, 'autoscale', 'load.js'), [JSON.stringify(plan)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (c) => reject(new Error(`the load generator exited with ${c} before it was ready`)));
  });
  const result = new Promise<LoadResult>((resolve) => child.on('message', (m) => resolve(m as LoadResult)));
  child.send({ go: true });
  const r = await Promise.race([result, exited.then((c) => Promise.reject(new Error(`the load generator exited with ${c}`)))]);
  await exited;
  return r;
}

/** The first change at or after `from` whose value satisfies `ok`. */
const firstChange = (xs: Change[] | undefined, from: number, ok: (v: number) => boolean) =>
  (xs ?? []).find(([at, v]) => at >= from && ok(v));

/** Section 1: the step, from zero to the rate and back to zero. */
async function step(w: AutoscaleWorld, c: StepConfig): Promise<void> {
  const name = 'step';
  await w.provider(name, {
    allowMultiplePerNode: true, // the bench has one node
    autoscale: {
      minReplicas: 0,
      maxReplicas: c.max,
      targetCallsPerSecondPerInstance: c.target,
      scaleUpStabilizationSeconds: 0,
      scaleDownStabilizationSeconds: 5,
      scaleToZeroAfterSeconds: 5,
    },
  });
  const r = await runLoad({
    url: w.nats.url,
    credsFile: w.granteeCreds(name),
    namespace: APP,
    provider: name,
    rate: c.rate,
    seconds: c.seconds,
    timeoutMs: 10_000,
    retries: c.retries,
  });
  const loadEnd = r.endedAt;
  const zeroReplicas = await waitFor(
    'zero replicas after the load',
    () => firstChange(w.replicas.get(name), loadEnd, (v) => v === 0) !== undefined,
    180_000,
  );
  const zeroInstances = await waitFor('no instance left after the load', () => w.instancesOf(name).length === 0, 60_000);
  printStep(w, c, r, { replicas: firstChange(w.replicas.get(name), loadEnd, (v) => v === 0)![0], zeroReplicas, zeroInstances });
}

function latencyRow(label: string, r: LoadResult, keep: (i: number) => boolean): void {
  const xs = r.latency.filter((_, i) => r.code[i] === 'OK' && keep(i)).sort((a, b) => a - b);
  console.log(
    `  ${label.padEnd(42)} p50 ${pct(xs, 0.5).toFixed(1).padStart(7)} ms   p99 ${pct(xs, 0.99).toFixed(1).padStart(7)} ms   max ${(xs.at(-1) ?? Number.NaN).toFixed(0).padStart(6)} ms   (${xs.length} calls)`,
  );
}

function printStep(
  w: AutoscaleWorld,
  c: StepConfig,
  r: LoadResult,
  zero: { replicas: number; zeroReplicas: number; zeroInstances: number },
) {
  const name = 'step';
  const t0 = r.startedAt;
  const replicas = w.replicas.get(name) ?? [];
  const running = w.running.get(name) ?? [];
  // the steady recommendation: replicas as the load ended
  const steady = [...replicas].reverse().find(([at]) => at <= r.endedAt)?.[1] ?? 0;
  const replicasAt = firstChange(replicas, t0, (v) => v >= steady)?.[0];
  const readyAt = firstChange(running, t0, (v) => v >= steady)?.[0];
  const sent = r.sentAt.length;
  const achieved = sent / ((r.endedAt - t0) / 1000);
  const codes = new Map<string, number>();
  for (const k of r.code) if (k !== 'OK') codes.set(k, (codes.get(k) ?? 0) + 1);
  console.log(
    `step: 0 → ${c.rate} calls/s for ${c.seconds} s (open loop, paced, own process), Provider autoscale: minReplicas 0, maxReplicas ${c.max}, targetCallsPerSecondPerInstance ${c.target}, up/down stabilization 0/5 s, scaleToZeroAfterSeconds 5; call deadline 10 s, client retries ${c.retries}`,
  );
  console.log(`  rate reached: ${achieved.toFixed(0)} calls/s (${sent} calls sent in ${secs(r.endedAt - t0)})`);
  const peak = replicas.filter(([at]) => at >= t0 && at <= r.endedAt).reduce((m, [, v]) => Math.max(m, v), 0);
  console.log(
    `  steady recommendation: ${steady} replicas (ceil(${achieved.toFixed(0)} / ${c.target}), clamped to ${c.max}); peak during the load: ${peak}`,
  );
  console.log(
    `  step → replicas ${steady}: ${replicasAt ? secs(replicasAt - t0) : 'never'};  step → ${steady} instances Running (enough Ready): ${readyAt ? secs(readyAt - t0) : 'never'}`,
  );
  latencyRow('latency, whole step', r, () => true);
  latencyRow('latency, first 5 s', r, (i) => r.sentAt[i] < 5000);
  if (readyAt) latencyRow('latency, steady (sent after enough Ready)', r, (i) => t0 + r.sentAt[i] >= readyAt);
  console.log(`  first call of the step (activated 0 → 1): ${r.latency[0]?.toFixed(0)} ms, ${r.code[0]}`);
  console.log(
    `  calls failed: ${sent - r.code.filter((k) => k === 'OK').length} of ${sent}${codes.size ? ` (${[...codes].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`,
  );
  const failedAt = r.sentAt.filter((_, i) => r.code[i] !== 'OK');
  const firstUp = firstChange(running, t0, (v) => v >= 1)?.[0] ?? Number.POSITIVE_INFINITY;
  if (failedAt.length)
    console.log(
      `  failed calls were sent ${secs(Math.min(...failedAt))} – ${secs(Math.max(...failedAt))} after the step; ${failedAt.filter((x) => t0 + x < firstUp).length} of them before the first instance was Running (they waited on the activation, then all called the one new instance at once; a host's maxInFlight is 256)`,
    );
  console.log(
    `  load end → replicas 0: ${secs(zero.replicas - r.endedAt)};  load end → no instance left: ${secs(zero.zeroInstances - r.endedAt)}`,
  );
  const timeline = [
    ...replicas.filter(([at]) => at >= t0).map(([at, v]) => [at, `replicas ${v}`] as const),
    ...running.filter(([at]) => at >= t0).map(([at, v]) => [at, `Running ${v}`] as const),
  ].sort((a, b) => a[0] - b[0]);
  console.log(`  timeline from the step (s): ${timeline.map(([at, what]) => `${((at - t0) / 1000).toFixed(1)} ${what}`).join(', ')}`);
}

/** Milliseconds from `start()` until an instance of `provider` is Running (the bench's watch). */
async function untilRunning(w: AutoscaleWorld, provider: string, start: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await start();
  const at = await waitFor(`${provider} Running`, () => w.instancesOf(provider).some(([, i]) => i.runningAt), 60_000);
  return at - t0;
}

/** Until no instance of `provider` is left, then a second for the host pool to refill, as on a node between two starts. */
async function settled(w: AutoscaleWorld, provider: string): Promise<void> {
  await waitFor(`no instance of ${provider} left`, () => w.instancesOf(provider).length === 0, 120_000);
  await sleep(1000);
}

interface Rounds {
  created: number[];
  scaled: number[];
  first: number[];
  /** per first call: call → instance seen, seen → Running, Running → answered */
  parts: [number, number, number][];
}

/** Section 2: the first call from zero against the baselines, the three alternating each round. */
async function fromZero(w: AutoscaleWorld, rounds: number): Promise<Rounds> {
  await w.provider('wake', {
    autoscale: {
      minReplicas: 0,
      maxReplicas: 1,
      targetCallsPerSecondPerInstance: 1000,
      scaleToZeroAfterSeconds: 2,
      scaleDownStabilizationSeconds: 1,
    },
  });
  await w.provider('manual', {});
  const nc = await connectNats({ servers: w.nats.url, credsFile: w.granteeCreds('wake'), connectTimeoutMs: 5000 });
  const out: Rounds = { created: [], scaled: [], first: [], parts: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      const pi = `base-${r}`;
      await settled(w, pi);
      out.created.push(await untilRunning(w, pi, () => w.admin.create(instancesPath(), baselineInstance(w, pi))));
      await w.admin.delete(instancesPath(pi));
      await settled(w, pi);
      out.scaled.push(
        await untilRunning(w, 'manual', () => w.admin.mergePatch(`${providersPath('manual')}/scale`, { spec: { replicas: 1 } })),
      );
      await w.admin.mergePatch(`${providersPath('manual')}/scale`, { spec: { replicas: 0 } });
      await settled(w, 'manual');
      await settled(w, 'wake');
      const t0 = Date.now();
      const res = await callProvider(nc, { namespace: APP, provider: 'wake', op: 'Echo', data: `round ${r}`, timeoutMs: 30_000 });
      const t1 = Date.now();
      if (new TextDecoder().decode(res.reply) !== `round ${r}`) throw new Error(`round ${r}: the first call answered something else`);
      out.first.push(t1 - t0);
      const inst = w.instancesOf('wake').find(([, i]) => i.seenAt >= t0)?.[1];
      if (inst?.runningAt) out.parts.push([inst.seenAt - t0, inst.runningAt - inst.seenAt, t1 - inst.runningAt]);
      await waitFor('wake back at zero', () => firstChange(w.replicas.get('wake'), t1, (v) => v === 0) !== undefined, 120_000);
    }
  } finally {
    await nc.close();
  }
  return out;
}

/** A ProviderInstance of the echo archive created directly on the bench's node (no Provider). */
function baselineInstance(w: AutoscaleWorld, name: string) {
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name, namespace: APP, labels: { 'gantry.dev/provider': name, 'gantry.dev/node': NODE } },
    spec: { provider: name, nodeName: NODE, archive: { ...w.archive, revision: 1 }, target: hostTarget(), capid: 'gantry:echo' },
  };
}

function printRounds(s: Rounds): void {
  const row = (label: string, xs: number[]) =>
    console.log(`  ${label.padEnd(58)} median ${median(xs).toFixed(0).padStart(5)} ms   (runs: ${xs.join(', ')})`);
  console.log(`first call from zero vs cold start, ${s.first.length} rounds (archive cached on the node, host pool refilled)`);
  row('baseline: created → Running, cached (ProviderInstance)', s.created);
  row('baseline: replicas 0→1 (scale subresource) → Running', s.scaled);
  row('first call from zero, answered (activation)', s.first);
  const d = median(s.first) - median(s.created);
  console.log(
    `  first call − (created → Running, cached): ${d >= 0 ? '+' : ''}${d.toFixed(0)} ms (goal ≤ +200 ms: ${d <= 200 ? 'met' : 'missed'}); ratio ${(median(s.first) / median(s.created)).toFixed(2)}×`,
  );
  const part = (k: number) => median(s.parts.map((p) => p[k])).toFixed(0);
  console.log(
    `  where the first call's time goes (medians, as the bench's watch saw it): call → instance created ${part(0)} ms, created → Running ${part(1)} ms, Running → answered ${part(2)} ms`,
  );
}

async function main(): Promise<void> {
  const c: StepConfig = {
    rate: arg('--rate', 1000),
    seconds: arg('--seconds', 20),
    target: arg('--target', 200),
    max: arg('--max', 8),
    retries: arg('--retries', 0),
  };
  const w = new AutoscaleWorld();
  try {
    const timing = {
      autoscaleIntervalMs: arg('--interval', 1000),
      autoscaleWindowMs: arg('--window', 6000),
      loadReportMs: arg('--report', 1000),
    };
    await w.start(timing);
    console.log(
      `world: API emulator (in process), nats-server with the membrane, docker-registry, one agent (C echo hosts, own processes), controller (in process); autoscaler every ${timing.autoscaleIntervalMs} ms over ${timing.autoscaleWindowMs} ms of reports, hosts reporting every ${timing.loadReportMs} ms`,
    );
    await step(w, c);
    printRounds(await fromZero(w, arg('--rounds', 5)));
  } finally {
    await w.stop();
  }
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} (${availableParallelism()} CPUs)`,
  );
}

main().catch((e) => {
  console.error(e instanceof CallError ? `${e.code}: ${e.message}` : e);
  process.exit(1);
});
