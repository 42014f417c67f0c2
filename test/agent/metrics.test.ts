/**
 * The agent's /metrics, /healthz and /readyz against real parts (nats-server, docker-registry,
 * the C example providers, the API emulator). The agent runs in this process (startAgent) so
 * the test can stall its event loop and take its API server away; one test runs
 * `gantry agent --metrics-addr` as a user would. Counts are compared before and after each
 * step, so the tests say what each event adds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callProvider, CallError } from '../../client/call.js';
import { startAgent, type Agent } from '../../agent/index.js';
import { hostTarget } from '../../agent/target.js';
import { gantryBin } from '../../runtime/paths.js';
import { generateSeed } from '../../par/index.js';
import { createInstance, isPhase, providerLibrary, publish, startWorld, waitForInstance, type World } from './harness.js';

const target = hostTarget();
const RENEW_MS = 300;

let w: World;
let nc: NatsConnection;
let agent: Agent | undefined;
const dirs: string[] = [];
const archives: Record<string, { ref: string; digest: string }> = {};

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gantry-agent-metrics-'));
  dirs.push(d);
  return d;
}

/** One sample's value from the text exposition format; undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** The sum of every series of `name` whose labels include `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let n = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) n += Number(m[3]);
  }
  return n;
}

async function scrape(url = agent!.metricsUrl!): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

async function probe(path: '/healthz' | '/readyz', url = agent!.metricsUrl!): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, body: await res.text() };
}

/** Poll until `pred` holds (bounded in time and count); the error says what was seen last. */
async function until<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let i = 0; i < 1_000 && Date.now() < deadline; i++) {
    last = await get();
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not reached in ${timeoutMs} ms; last seen ${JSON.stringify(last)}`);
}

beforeAll(async () => {
  w = await startWorld();
  nc = await connect({ servers: w.nats.url });
  archives.echo = await publish(w, {
    repo: 'echo',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
  archives.faulty = await publish(w, {
    repo: 'faulty',
    capid: 'gantry:faulty',
    binaries: { [target]: providerLibrary('faulty') },
    issuerSeed: w.issuerSeed,
  });
  archives.stranger = await publish(w, {
    repo: 'stranger',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: generateSeed('account'),
  });
  agent = await startAgent({
    kubeConfig: w.agentFor('metrics-node').kc,
    node: 'metrics-node',
    natsUrl: w.nats.url,
    cacheDir: tempDir(),
    trustedIssuers: [w.issuer],
    plainHttpRegistries: [w.registry.host],
    renewIntervalMs: RENEW_MS,
    maxEventLoopStallMs: 300,
    metricsAddr: '127.0.0.1:0',
  });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await nc?.close();
  await w?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const onNode = { node: 'metrics-node' };

describe('agent metrics and health', () => {
  it("is ready once synced and renewed, and exposes its own and the process's metrics", async () => {
    expect(agent!.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await until(
      'readyz 200',
      () => probe('/readyz'),
      (r) => r.status === 200,
    );
    expect(ready.body).toBe('ok\n');
    await until(
      'healthz 200',
      () => probe('/healthz'),
      (r) => r.status === 200,
    );
    const text = await scrape();
    expect(sample(text, 'gantry_agent_lease_last_renew_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(sample(text, 'gantry_agent_instances', { phase: 'Running' })).toBe(0);
    // no --host-cgroup: the agent polls RSS, and says so
    expect(sample(text, 'gantry_agent_memory_cgroup')).toBe(0);
    expect(sample(text, 'gantry_agent_instance_failures_total', { reason: 'UntrustedIssuer' })).toBe(0);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect((await fetch(`${agent!.metricsUrl}/nope`)).status).toBe(404);
  });

  it('counts a Running instance, a registry pull, then a cache hit for a second instance of the same archive', async () => {
    const before = await scrape();
    const a = archives.echo!;
    await createInstance(w, { name: 'm-echo-0', provider: 'm-echo', ref: a.ref, digest: a.digest, target, ...onNode });
    await waitForInstance(w, 'm-echo-0', isPhase('Running'));
    const one = await scrape();
    expect(sample(one, 'gantry_agent_instances', { phase: 'Running' })).toBe(1);
    expect(
      sample(one, 'gantry_agent_archive_cache_requests_total', { result: 'miss' })! -
        sample(before, 'gantry_agent_archive_cache_requests_total', { result: 'miss' })!,
    ).toBe(1);
    expect(sample(one, 'gantry_agent_archive_fetch_duration_seconds_count', { source: 'registry', result: 'ok' })).toBe(1);
    expect(sample(one, 'gantry_agent_archive_verify_duration_seconds_count', { result: 'ok' })).toBe(1);
    expect(sample(one, 'gantry_agent_archive_fetch_duration_seconds_sum', { source: 'registry', result: 'ok' })).toBeGreaterThan(0);

    await createInstance(w, { name: 'm-echo-1', provider: 'm-echo', ref: a.ref, digest: a.digest, target, ...onNode });
    await waitForInstance(w, 'm-echo-1', isPhase('Running'));
    const two = await scrape();
    expect(sample(two, 'gantry_agent_instances', { phase: 'Running' })).toBe(2);
    expect(
      sample(two, 'gantry_agent_archive_cache_requests_total', { result: 'hit' })! -
        sample(one, 'gantry_agent_archive_cache_requests_total', { result: 'hit' })!,
    ).toBe(1);
    expect(sample(two, 'gantry_agent_archive_cache_requests_total', { result: 'miss' })).toBe(
      sample(one, 'gantry_agent_archive_cache_requests_total', { result: 'miss' }),
    );
    expect(sample(two, 'gantry_agent_archive_fetch_duration_seconds_count', { source: 'cache', result: 'ok' })).toBe(1);
  });

  it('counts a failure by its status reason and the instance as Failed', async () => {
    const before = await scrape();
    const a = archives.stranger!;
    await createInstance(w, { name: 'm-stranger', provider: 'm-stranger', ref: a.ref, digest: a.digest, target, ...onNode });
    const failed = await waitForInstance(w, 'm-stranger', isPhase('Failed'));
    expect(failed.status.reason).toBe('UntrustedIssuer');
    const after = await until(
      'failure counted',
      scrape,
      (t) => sample(t, 'gantry_agent_instance_failures_total', { reason: 'UntrustedIssuer' }) === 1,
    );
    expect(sample(after, 'gantry_agent_instances', { phase: 'Failed' })).toBe(1);
    expect(sample(after, 'gantry_agent_instances', { phase: 'Running' })).toBe(
      sample(before, 'gantry_agent_instances', { phase: 'Running' }),
    );
    // nothing else failed
    expect(total(after, 'gantry_agent_instance_failures_total') - total(before, 'gantry_agent_instance_failures_total')).toBe(1);
    expect(sample(after, 'gantry_agent_archive_fetch_duration_seconds_count', { source: 'registry', result: 'error' })).toBe(1);
  });

  it('counts a host crash the agent restarted, by exit kind', async () => {
    const before = await scrape();
    const a = archives.faulty!;
    await createInstance(w, { name: 'm-faulty', provider: 'm-faulty', ref: a.ref, digest: a.digest, target, ...onNode });
    await waitForInstance(w, 'm-faulty', isPhase('Running'));
    const crash = await callProvider(nc, {
      namespace: 'default',
      provider: 'm-faulty',
      instance: 'm-faulty',
      op: 'Segfault',
      timeoutMs: 2_000,
    }).catch((e) => e);
    expect(crash).toBeInstanceOf(CallError);
    await waitForInstance(w, 'm-faulty', (i) => i.status?.restartCount >= 1 && i.status?.phase === 'Running');
    const after = await scrape();
    expect(total(after, 'gantry_agent_host_restarts_total') - total(before, 'gantry_agent_host_restarts_total')).toBe(1);
    expect(sample(after, 'gantry_agent_host_restarts_total', { reason: 'CRASHED', exit_kind: 'signal' })).toBe(1);
    // the library on disk still hashes to its name: the restart reloads it without fetching the archive again
    expect(total(after, 'gantry_agent_archive_cache_requests_total') - total(before, 'gantry_agent_archive_cache_requests_total')).toBe(1);
    expect(sample(after, 'gantry_agent_instances', { phase: 'Running' })).toBe(3);
  });

  it('gantry agent --metrics-addr (or $GANTRY_METRICS_ADDR, as the DaemonSet sets it) serves the same endpoints, and refuses a bad address before starting', async () => {
    const args = (addr?: string) => [
      gantryBin(),
      'agent',
      '--kubeconfig',
      w.agentFor('metrics-cli').kubeconfigPath,
      '--node',
      'metrics-cli',
      '--nats',
      w.nats.url,
      '--cache-dir',
      tempDir(),
      '--trust-issuer',
      w.issuer,
      ...(addr ? ['--metrics-addr', addr] : []),
    ];
    const bad = spawn(process.execPath, args('127.0.0.1:http'), { stdio: ['ignore', 'ignore', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (d) => (badErr += d));
    const code = await new Promise<number | null>((r) => bad.once('exit', r));
    expect(code).toBe(2);
    expect(badErr).toMatch(/--metrics-addr 127\.0\.0\.1:http: expected HOST:PORT/);

    const child = spawn(process.execPath, args(), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GANTRY_LOG_LEVEL: 'warn', GANTRY_METRICS_ADDR: '127.0.0.1:0' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const url = await until(
        'metrics address on stderr',
        async () => /metrics (http:\/\/\S+)\/metrics/.exec(stderr)?.[1],
        (u) => !!u,
        20_000,
      );
      await until(
        'CLI agent ready',
        () => probe('/readyz', url!),
        (r) => r.status === 200,
      );
      const text = await scrape(url!);
      expect(sample(text, 'gantry_agent_instances', { phase: 'Running' })).toBe(0);
      expect(sample(text, 'gantry_agent_lease_last_renew_timestamp_seconds')).toBeGreaterThan(0);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(child.exitCode).toBe(0);
  });

  it('fails /healthz for a while after the event loop stalled, then recovers', async () => {
    await until(
      'healthz 200',
      () => probe('/healthz'),
      (r) => r.status === 200,
    );
    const t0 = Date.now();
    while (Date.now() - t0 < 900) {
      // block the loop on purpose, as a runaway synchronous task would
    }
    const stalled = await probe('/healthz');
    expect(stalled.status).toBe(503);
    expect(stalled.body).toMatch(/event loop stalled for \d+ ms/);
    await until(
      'healthz 200 again',
      () => probe('/healthz'),
      (r) => r.status === 200,
      5_000,
    );
  });

  it('goes unready once Lease renewals fail with the API server gone, while staying live', async () => {
    const before = await scrape();
    await w.api.stop();
    const unready = await until(
      'readyz 503',
      () => probe('/readyz'),
      (r) => r.status === 503,
      10_000,
    );
    expect(unready.body).toMatch(/Lease renewal/);
    const failures = (t: string) => sample(t, 'gantry_agent_lease_renew_failures_total')!;
    const lastRenew = (t: string) => sample(t, 'gantry_agent_lease_last_renew_timestamp_seconds')!;
    // once one renewal has failed the API server is gone: every later attempt fails too (they run one at a time)
    const mid = await until('renew failures counted', scrape, (t) => failures(t) > failures(before));
    const after = await until('more renew failures counted', scrape, (t) => failures(t) > failures(mid));
    // a failed renewal is not recorded as a good one: the last good renewal stays where it was across scrapes
    expect(lastRenew(mid)).toBeGreaterThan(0);
    expect(lastRenew(after)).toBe(lastRenew(mid));
    // liveness does not depend on the API server (polled: this process also hosts the emulator)
    await until(
      'healthz 200 without the API server',
      () => probe('/healthz'),
      (r) => r.status === 200,
      5_000,
    );
  });
});
