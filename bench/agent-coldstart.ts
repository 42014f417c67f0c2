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
 * The same run prints where the time of a start goes (the instance runner's step marks and the
 * host's own steps), the same starts on an agent with no pool of idle hosts (before the pool),
 * the density of N idle echo instances on one agent process (RSS and PSS), and heal times
 * with real agent and controller processes (see measureDensity and measureHeal).
 *
 * Run: npm run build && make -C providers && node dist/bench/agent-coldstart.js [--rounds N] [--density N] [--no-heal]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ProviderHost } from '../agent/host/index.js';
import { startAgent } from '../agent/index.js';
import { hostTarget } from '../agent/target.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { openArchiveStore } from '../registry/index.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../runtime/kube.js';
import { packageRoot } from '../runtime/paths.js';
import { startApiServer } from '../apiserver/index.js';
import { type Breakdowns, breakdown, printBreakdowns } from './coldstart/breakdown.js';
import { type BenchCluster, NS } from './coldstart/cluster.js';
import { measureDensity } from './coldstart/density.js';
import { measureHeal } from './coldstart/heal.js';
import { startBenchRegistry } from './local-registry.js';
import { startBenchNats } from './support/local-nats.js';
import { median } from './timing.js';

const SIZE = 10 * 1024 * 1024;
const NODE = 'bench-node';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The servers, the API server with the CRDs, and two in-process agents: one with the host pool, one without. */
async function setUp() {
  const nats = await startBenchNats('gantry-bench-');
  const registry = await startBenchRegistry('gantry-bench-');
  const host = registry.host;
  const api = await startApiServer({});
  const kubeConfig = loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml });
  const kube = new KubeClient(kubeConfig);
  for (const f of ['gantry.dev_providerinstances.yaml', 'gantry.dev_providers.yaml']) {
    await kube.create(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      parseYaml(readFileSync(join(packageRoot(), 'crds', f), 'utf8')),
    );
  }
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gantry-system' } }).catch(() => {});

  const issuerSeed = generateSeed('account');
  const echo = readFileSync(join(packageRoot(), 'providers', 'build', 'echo.so'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'gantry-bench-agent-'));
  const agent = await startAgent({
    kubeConfig,
    node: NODE,
    natsUrl: `nats://127.0.0.1:${nats.port}`,
    cacheDir,
    trustedIssuers: [publicKeyFromSeed(issuerSeed)],
    plainHttpRegistries: [host],
  });
  // the same agent with no idle hosts kept: every host forked and booted on demand, as before the pool
  const plainCacheDir = mkdtempSync(join(tmpdir(), 'gantry-bench-agent-nopool-'));
  const plainAgent = await startAgent({
    kubeConfig,
    node: `${NODE}-nopool`,
    natsUrl: `nats://127.0.0.1:${nats.port}`,
    cacheDir: plainCacheDir,
    trustedIssuers: [publicKeyFromSeed(issuerSeed)],
    plainHttpRegistries: [host],
    hostPoolSize: 0,
  });

  const cluster: BenchCluster = {
    kubeConfigYaml: api.kubeconfigYaml,
    natsPort: nats.port,
    registry: host,
    issuerSeed,
    target: hostTarget(),
    echo,
  };
  return { nats, registry, api, kube, cluster, cacheDir, agent, plainCacheDir, plainAgent };
}

type Bench = Awaited<ReturnType<typeof setUp>>;

async function tearDown(b: Bench): Promise<void> {
  await b.agent.stop();
  await b.plainAgent.stop();
  rmSync(b.plainCacheDir, { recursive: true, force: true });
  b.kube.close();
  await b.api.stop();
  await b.registry.stop();
  await b.nats.stop();
  rmSync(b.cacheDir, { recursive: true, force: true });
}

/** Each round's milliseconds, by row, and where the agent's starts spent them. */
interface Samples {
  hostMs: number[];
  pullMs: number[];
  uncached: number[];
  cached: number[];
  uncachedNoPool: number[];
  cachedNoPool: number[];
  breakdowns: Breakdowns;
}

const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });

/** Milliseconds from creating instance `name` on `node` until the bench sees it Running. */
async function coldStart(
  b: Bench,
  s: Samples,
  name: string,
  ref: string,
  digest: string,
  kind?: 'uncached' | 'cached',
  node = NODE,
): Promise<number> {
  const { kube, agent } = b;
  const { target } = b.cluster;
  const t0 = performance.now();
  await kube.create(instances, {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name, namespace: NS, labels: { 'gantry.dev/provider': name, 'gantry.dev/node': node } },
    spec: { provider: name, nodeName: node, archive: { ref, digest, revision: 1 }, target, capid: 'gantry:echo' },
  });
  for (let i = 0; i < 6_000; i++) {
    const o = await kube.get(`${instances}/${name}`);
    if (o.status?.phase === 'Running') {
      const ms = performance.now() - t0;
      const h = agent.hosts()[`${NS}/${name}`];
      if (kind && h) s.breakdowns[kind].push(breakdown(h.timeline, performance.timeOrigin + t0, performance.timeOrigin + t0 + ms));
      return ms;
    }
    if (o.status?.phase === 'Failed') throw new Error(`${name} failed: ${o.status.reason}: ${o.status.message}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${name} did not start`);
}

/** One round: a new 10 MiB archive pulled bare, a bare host started, then four starts through the agents. */
async function measureRound(b: Bench, s: Samples, r: number): Promise<void> {
  const { target, issuerSeed, echo } = b.cluster;
  const host = b.cluster.registry;
  const { cacheDir } = b;
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
  s.pullMs.push(performance.now() - t0);
  const lib = join(cacheDir, `bare-${r}.so`);
  writeFileSync(lib, padded);
  const t1 = performance.now();
  const bare = new ProviderHost({
    libraryPath: lib,
    expectedCapid: 'gantry:echo',
    namespace: 'bench',
    provider: 'bare',
    instance: `bare-${r}`,
    nats: { servers: `nats://127.0.0.1:${b.cluster.natsPort}` },
  });
  await bare.start();
  s.hostMs.push(performance.now() - t1);
  await bare.stop();
  // let the pool refill after the bare host's start, as on a node between two starts
  await new Promise((res) => setTimeout(res, 1000));
  s.uncached.push(await coldStart(b, s, `big-${r}-a`, ref, digest, 'uncached'));
  await new Promise((res) => setTimeout(res, 1000));
  s.cached.push(await coldStart(b, s, `big-${r}-b`, ref, digest, 'cached'));
  s.uncachedNoPool.push(await coldStart(b, s, `big-${r}-c`, ref, digest, undefined, `${NODE}-nopool`));
  s.cachedNoPool.push(await coldStart(b, s, `big-${r}-d`, ref, digest, undefined, `${NODE}-nopool`));
  if (r === 0) console.log(`archive: ${(bytes.length / 1024 / 1024).toFixed(1)} MiB (${target})`);
}

function printReport(rounds: number, s: Samples): void {
  const base = median(s.pullMs);
  const row = (label: string, xs: number[]) =>
    console.log(
      `${label.padEnd(44)} ${median(xs).toFixed(0).padStart(6)} ms   ${(median(xs) / base).toFixed(2)}× baseline   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`,
    );
  console.log(`rounds: ${rounds}, medians`);
  row('baseline: registry pull + verify, no agent', s.pullMs);
  row('baseline: bare host start (forked), no agent', s.hostMs);
  row('created → Running, uncached', s.uncached);
  row('created → Running, cached', s.cached);
  row('before (no host pool): uncached', s.uncachedNoPool);
  row('before (no host pool): cached', s.cachedNoPool);
  console.log(`cached / uncached: ${(median(s.cached) / median(s.uncached)).toFixed(2)}`);
  printBreakdowns(s.breakdowns);
}

async function main(): Promise<void> {
  const rounds = arg('--rounds', 3);
  const b = await setUp();
  const density = await measureDensity(arg('--density', 50), b.cluster);
  let heal = '';
  const s: Samples = {
    hostMs: [],
    pullMs: [],
    uncached: [],
    cached: [],
    uncachedNoPool: [],
    cachedNoPool: [],
    breakdowns: { uncached: [], cached: [] },
  };
  try {
    for (let r = 0; r < rounds; r++) await measureRound(b, s, r);
    heal = await measureHeal(b.cluster, process.argv.includes('--no-heal'));
  } finally {
    await tearDown(b);
  }
  printReport(rounds, s);
  console.log(density);
  console.log(heal);
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} (${availableParallelism()} CPUs)`,
  );
}

await main();
