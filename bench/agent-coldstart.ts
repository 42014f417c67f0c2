/**
 * Cold start through the node agent: from "ProviderInstance created" to "status.phase is
 * Running" for a 10 MiB archive, with the archive not yet on the node (uncached: pull from
 * a real docker-registry, verify, extract, start the host) and already on it (cached: a
 * second instance of the same digest). Baseline, measured in the same run: pulling and
 * verifying the same archive straight from the registry, with no agent at all.
 *
 * The archive carries the echo provider padded to 10 MiB with random bytes (trailing data
 * does not stop an ELF shared object from loading), so every byte is fetched, hashed and
 * written like a real large provider.
 *
 * Run: npm run build && make -C providers && node dist/bench/agent-coldstart.js [--rounds N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../runtime/paths.js';
import { findExecutable, freePort, waitForPort } from '../runtime/host.js';
import { startAgent } from '../agent/index.js';
import type { StartTimeline } from '../agent/instance-runner.js';
import { ProviderHost } from '../agent/host/index.js';
import { hostTarget } from '../agent/target.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { openArchiveStore } from '../registry/index.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../runtime/kube.js';
import { startApiServer } from '../sandbox/apiserver/index.js';

const SIZE = 10 * 1024 * 1024;
const NODE = 'bench-node';
const NS = 'default';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}




/** A server process on a free loopback port with a temp dir; config written by `conf(port, dir)`. */
async function server(bin: string, args: (conf: string) => string[], conf: (port: number, dir: string) => string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-'));
  const file = join(dir, 'conf');
  writeFileSync(file, conf(port, dir));
  const proc: ChildProcess = spawn(findExecutable(bin) ?? bin, args(file), { stdio: 'ignore' });
  await waitForPort(port);
  return {
    port,
    async stop() {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const STEP_LABELS: Record<string, string> = {
  runner: 'watch event → instance runner',
  Fetching: 'trust check',
  credentials: 'instance pull credentials (API read)',
  accessChecked: 'registry access check (manifest HEAD)',
  pulledAndVerified: 'fetch + verify archive',
  cacheReadAndVerified: 'fetch + verify archive',
  Verifying: 'capid check',
  Starting: 'capid check + write library to store',
  Running: 'host start (spawn/claim → ready)',
  statusWritten: 'status write (Running)',
};

/** Durations between the runner's marks, the host's own steps, and the bench's poll. */
function breakdown(t: StartTimeline, createdAt: number, seenAt: number): Record<string, number> {
  const out: Record<string, number> = {};
  let prev = createdAt;
  let verifyingAt: number | undefined;
  for (const [step, at] of t.marks) {
    if (step === 'Verifying') { verifyingAt = at; continue; }
    const from = step === 'Starting' && verifyingAt !== undefined ? Math.min(prev, verifyingAt) : prev;
    const label = STEP_LABELS[step] ?? step;
    out[label] = (out[label] ?? 0) + (at - from);
    prev = at;
  }
  if (t.host) {
    const inside = Object.values(t.host.steps).reduce((a, b) => a + b, 0);
    out[`  ${t.host.pooled ? 'claim pooled host' : 'fork + boot Node + load modules'} + IPC`] = t.host.totalMs - inside;
    for (const [k, v] of Object.entries(t.host.steps)) out[`  host: ${k}`] = v;
  }
  out['status seen by the bench (10 ms poll)'] = seenAt - prev;
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const rounds = arg('--rounds', 3);
  const target = hostTarget();
  const nats = await server('nats-server', (f) => ['-c', f], (p) => `listen: 127.0.0.1:${p}\n`);
  const registry = await server('docker-registry', (f) => ['serve', f], (p, d) =>
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${d}/storage\nhttp:\n  addr: 127.0.0.1:${p}\n`);
  const host = `127.0.0.1:${registry.port}`;
  const api = await startApiServer({});
  const kubeConfig = loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml });
  const kube = new KubeClient(kubeConfig);
  for (const f of ['gantry.dev_providerinstances.yaml', 'gantry.dev_providers.yaml']) {
    await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', parseYaml(readFileSync(join(packageRoot(), 'crds', f), 'utf8')));
  }
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gantry-system' } }).catch(() => {});

  const issuerSeed = generateSeed('account');
  const echo = readFileSync(join(packageRoot(), 'providers', 'build', 'echo.so'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'gantry-bench-agent-'));
  const agent = await startAgent({ kubeConfig, node: NODE, natsUrl: `nats://127.0.0.1:${nats.port}`, cacheDir, trustedIssuers: [publicKeyFromSeed(issuerSeed)], plainHttpRegistries: [host] });

  const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });
  const breakdowns: Record<'uncached' | 'cached', Array<Record<string, number>>> = { uncached: [], cached: [] };
  async function coldStart(name: string, ref: string, digest: string, kind?: 'uncached' | 'cached'): Promise<number> {
    const t0 = performance.now();
    await kube.create(instances, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'ProviderInstance',
      metadata: { name, namespace: NS, labels: { 'gantry.dev/provider': name, 'gantry.dev/node': NODE } },
      spec: { provider: name, nodeName: NODE, archive: { ref, digest, revision: 1 }, target, capid: 'gantry:echo' },
    });
    for (let i = 0; i < 6_000; i++) {
      const o = await kube.get(`${instances}/${name}`);
      if (o.status?.phase === 'Running') {
        const ms = performance.now() - t0;
        const h = agent.hosts()[`${NS}/${name}`];
        if (kind && h) breakdowns[kind].push(breakdown(h.timeline, performance.timeOrigin + t0, performance.timeOrigin + t0 + ms));
        return ms;
      }
      if (o.status?.phase === 'Failed') throw new Error(`${name} failed: ${o.status.reason}: ${o.status.message}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${name} did not start`);
  }

  const hostMs: number[] = [];
  const pullMs: number[] = [];
  const uncached: number[] = [];
  const cached: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const padded = Buffer.concat([echo, randomBytes(SIZE - echo.length)]);
      const bytes = await createPar({
        binaries: { [target]: padded },
        issuerSeed,
        subjectSeed: generateSeed('service'),
        name: `big-${r}`,
        vendor: 'bench',
        capid: 'gantry:echo',
        version: '1.0.0',
        revision: 1,
      });
      const ref = `${host}/bench/big-${r}`;
      const store = openArchiveStore(ref, { plainHttpRegistries: [host] });
      const { digest } = await store.push(bytes);
      const t0 = performance.now();
      await store.pull(digest, { trustedIssuers: [publicKeyFromSeed(issuerSeed)], target });
      pullMs.push(performance.now() - t0);
      const lib = join(cacheDir, `bare-${r}.so`);
      writeFileSync(lib, padded);
      const t1 = performance.now();
      const bare = new ProviderHost({ libraryPath: lib, expectedCapid: 'gantry:echo', namespace: 'bench', provider: 'bare', instance: `bare-${r}`, nats: { servers: `nats://127.0.0.1:${nats.port}` } });
      await bare.start();
      hostMs.push(performance.now() - t1);
      await bare.stop();
      // let the pool refill after the bare host's start, as on a node between two starts
      await new Promise((res) => setTimeout(res, 1000));
      uncached.push(await coldStart(`big-${r}-a`, ref, digest, 'uncached'));
      await new Promise((res) => setTimeout(res, 1000));
      cached.push(await coldStart(`big-${r}-b`, ref, digest, 'cached'));
      if (r === 0) console.log(`archive: ${(bytes.length / 1024 / 1024).toFixed(1)} MiB (${target})`);
    }
  } finally {
    await agent.stop();
    kube.close();
    await api.stop();
    await registry.stop();
    await nats.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
  const base = median(pullMs);
  const row = (label: string, xs: number[]) =>
    console.log(`${label.padEnd(44)} ${median(xs).toFixed(0).padStart(6)} ms   ${(median(xs) / base).toFixed(2)}× baseline   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`rounds: ${rounds}, medians`);
  row('baseline: registry pull + verify, no agent', pullMs);
  row('baseline: bare ProviderHost start, no agent', hostMs);
  row('created → Running, uncached', uncached);
  row('created → Running, cached', cached);
  console.log(`cached / uncached: ${(median(cached) / median(uncached)).toFixed(2)}`);
  console.log('\nwhere the time goes (medians, ms; host steps are inside "host start")');
  const steps = [...new Set([...breakdowns.uncached, ...breakdowns.cached].flatMap((b) => Object.keys(b)))];
  const med = (kind: 'uncached' | 'cached', k: string) => {
    const xs = breakdowns[kind].map((b) => b[k]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs).toFixed(1).padStart(8) : '       -';
  };
  console.log(`${'step'.padEnd(44)} ${'uncached'.padStart(8)} ${'cached'.padStart(8)}`);
  for (const k of steps) console.log(`${k.padEnd(44)} ${med('uncached', k)} ${med('cached', k)}`);
  console.log(`agent overhead over a bare host start: uncached ${(median(uncached) - median(hostMs)).toFixed(0)} ms, cached ${(median(cached) - median(hostMs)).toFixed(0)} ms`);
}

await main();
