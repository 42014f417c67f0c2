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
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
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
import { startApiServer } from '../apiserver/index.js';
import { registerNodes } from '../sandbox/launcher/cluster-objects.js';
import { parseNodeSpec } from '../sandbox/launcher/node-spec.js';

const SIZE = 10 * 1024 * 1024;
const NODE = 'bench-node';
const NS = 'default';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** A server process on a free loopback port with a temp dir; config written by `conf(port, dir)`. */
async function server(
  bin: string,
  args: (conf: string) => string[],
  conf: (port: number, dir: string) => string,
): Promise<{ port: number; stop(): Promise<void> }> {
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
    if (step === 'Verifying') {
      verifyingAt = at;
      continue;
    }
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

/** Rss and Pss (kB → MiB) of one process, from /proc/PID/smaps_rollup. */
function memoryOf(pid: number): { rss: number; pss: number } {
  try {
    const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024 };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** Children of pid (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * N idle echo instances on one agent run as its own process (`gantry agent`, default host pool),
 * then the memory of the agent and every process under it: summed RSS counts the pages of the
 * node binary and shared libraries once per process; PSS splits shared pages among their
 * users, so summed PSS is what the processes really add — closest to what a container's
 * cgroup (memory.current, the number a limit is checked against) charges for them.
 */
async function measureDensity(
  n: number,
  o: { kubeConfigYaml: string; natsPort: number; registry: string; issuerSeed: Uint8Array | string; target: string; echo: Buffer },
): Promise<string> {
  if (n <= 0) return 'density: skipped (--density 0)';
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-density-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, o.kubeConfigYaml);
  const kube = new KubeClient(loadKubeConfig({ kubeconfigYaml: o.kubeConfigYaml }));
  const bytes = await createPar({
    binaries: { [o.target]: o.echo },
    issuerSeed: o.issuerSeed as never,
    subjectSeed: generateSeed('service'),
    name: 'dense',
    vendor: 'bench',
    capid: 'gantry:echo',
    version: '1.0.0',
    revision: 1,
  });
  const ref = `${o.registry}/bench/dense`;
  const { digest } = await openArchiveStore(ref, { plainHttpRegistries: [o.registry] }).push(bytes);
  const node = 'dense-node';
  const agent = spawn(
    process.execPath,
    [
      join(packageRoot(), 'bin', 'gantry.js'),
      'agent',
      '--kubeconfig',
      kubeconfig,
      '--node',
      node,
      '--nats',
      `nats://127.0.0.1:${o.natsPort}`,
      '--cache-dir',
      join(dir, 'cache'),
      '--trust-issuer',
      publicKeyFromSeed(o.issuerSeed as never),
      '--plain-http-registry',
      o.registry,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } },
  );
  const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await kube.create(instances, {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'ProviderInstance',
        metadata: { name: `dense-${i}`, namespace: NS, labels: { 'gantry.dev/provider': 'dense', 'gantry.dev/node': node } },
        spec: { provider: 'dense', nodeName: node, archive: { ref, digest, revision: 1 }, target: o.target, capid: 'gantry:echo' },
      });
    }
    let running = 0;
    for (let i = 0; i < 3_000 && running < n; i++) {
      const list = (await kube.get(`${instances}?labelSelector=gantry.dev/node%3D${node}`)) as {
        items: Array<{ status?: { phase?: string } }>;
      };
      running = list.items.filter((x) => x.status?.phase === 'Running').length;
      if (running < n) await new Promise((r) => setTimeout(r, 100));
    }
    const allMs = performance.now() - t0;
    if (running < n) return `density: only ${running}/${n} instances Running`;
    await new Promise((r) => setTimeout(r, 3000)); // idle
    const a = memoryOf(agent.pid!);
    const kids = childrenOf(agent.pid!);
    const hosts = kids.map(memoryOf);
    const sum = (k: 'rss' | 'pss') => hosts.reduce((x, h) => x + h[k], 0);
    const totalRss = a.rss + sum('rss');
    const totalPss = a.pss + sum('pss');
    const perRss = sum('rss') / kids.length;
    const perPss = sum('pss') / kids.length;
    return [
      `density: ${n} idle echo instances Running on one agent in ${(allMs / 1000).toFixed(1)} s (${kids.length} host processes incl. the idle pool)`,
      `  agent:                    RSS ${a.rss.toFixed(0)} MiB, PSS ${a.pss.toFixed(0)} MiB`,
      `  per host process:         RSS ${perRss.toFixed(1)} MiB, PSS ${perPss.toFixed(1)} MiB`,
      `  total (agent + hosts):    RSS ${totalRss.toFixed(0)} MiB summed (${(totalRss / 1024).toFixed(2)} GiB), PSS ${totalPss.toFixed(0)} MiB (${(totalPss / 1024).toFixed(2)} GiB); target ≤ 1.5 GiB, judged on PSS`,
    ].join('\n');
  } finally {
    const exited = new Promise((r) => agent.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
    for (let i = 0; i < n; i++) await kube.delete(`${instances}/dense-${i}`).catch(() => {});
    kube.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A `gantry` command as its own process (agent or controller), killed on cleanup. */
function gantry(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), ...args], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'warn', ...env },
  });
}

async function killed(p: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill(sig);
  await done;
}

/**
 * Heal times with real processes: two agents and two leader-elected controllers (`gantry
 * agent`, `gantry controller`, default timings) on two Nodes. (1) The agent running a
 * Provider's one replica is SIGKILLed: time until a replacement is Running on the other
 * node, beside --agent-lease-grace. (2) The leading controller is SIGKILLed and the Provider
 * scaled up at once: time until the new leader has created the extra instance, beside
 * --leader-elect-lease-duration.
 */
async function measureHeal(o: {
  kubeConfigYaml: string;
  natsPort: number;
  registry: string;
  issuerSeed: Uint8Array | string;
  target: string;
  echo: Buffer;
  skip: boolean;
}): Promise<string> {
  if (o.skip) return 'heal: skipped (--no-heal)';
  const graceS = 20;
  const leaseS = 15;
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-heal-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, o.kubeConfigYaml);
  const kube = new KubeClient(loadKubeConfig({ kubeconfigYaml: o.kubeConfigYaml }));
  const nodes = parseNodeSpec('2');
  await registerNodes(kube, nodes);
  const issuer = publicKeyFromSeed(o.issuerSeed as never);
  const bytes = await createPar({
    binaries: { [o.target]: o.echo },
    issuerSeed: o.issuerSeed as never,
    subjectSeed: generateSeed('service'),
    name: 'heal',
    vendor: 'bench',
    capid: 'gantry:echo',
    version: '1.0.0',
    revision: 1,
  });
  const ref = `${o.registry}/bench/heal`;
  await openArchiveStore(ref, { plainHttpRegistries: [o.registry] }).push(bytes);
  const nats = `nats://127.0.0.1:${o.natsPort}`;
  const agents = new Map(
    nodes.map((n) => [
      n.name,
      gantry([
        'agent',
        '--kubeconfig',
        kubeconfig,
        '--node',
        n.name,
        '--nats',
        nats,
        '--cache-dir',
        join(dir, `cache-${n.name}`),
        '--trust-issuer',
        issuer,
        '--plain-http-registry',
        o.registry,
      ]),
    ]),
  );
  const controllerArgs = (id: string) => [
    'controller',
    '--kubeconfig',
    kubeconfig,
    '--trust-issuer',
    issuer,
    '--plain-http-registry',
    o.registry,
    '--identity',
    id,
    '--agent-lease-grace',
    `${graceS}s`,
    '--leader-elect-lease-duration',
    `${leaseS}s`,
  ];
  const controllers = new Map(['bench-ctl-a', 'bench-ctl-b'].map((id) => [id, gantry(controllerArgs(id))]));
  const providers = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS });
  const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });
  type Inst = { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName: string }; status?: { phase?: string } };
  const list = async () =>
    ((await kube.get(`${instances}?labelSelector=gantry.dev/provider%3Dheal`)) as { items: Inst[] }).items.filter(
      (i) => !i.metadata.deletionTimestamp,
    );
  const until = async (what: string, ok: () => Promise<boolean>, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (!(await ok().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`heal bench: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await kube.create(providers, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'heal', namespace: NS },
      spec: { archive: { ref }, replicas: 1, allowMultiplePerNode: true },
    });
    await until('the first replica', async () => (await list()).some((i) => i.status?.phase === 'Running'));
    const victim = (await list()).find((i) => i.status?.phase === 'Running')!;
    const t0 = performance.now();
    await killed(agents.get(victim.spec.nodeName)!);
    await until('a replacement on the other node', async () =>
      (await list()).some((i) => i.spec.nodeName !== victim.spec.nodeName && i.status?.phase === 'Running'),
    );
    const agentHeal = (performance.now() - t0) / 1000;

    const lease = (await kube
      .get(`/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-controller`)
      .catch(() => undefined)) as { spec?: { holderIdentity?: string } } | undefined;
    const leader = lease?.spec?.holderIdentity;
    if (!leader || !controllers.has(leader))
      return `heal: agent SIGKILLed → replacement Running on another node: ${agentHeal.toFixed(1)} s (agent lease grace ${graceS} s; aim ≤ ${graceS + 5} s)\nheal: controller leader not found (lease holder ${leader ?? 'none'})`;
    const before = (await list()).length;
    const t1 = performance.now();
    await killed(controllers.get(leader)!);
    await kube.mergePatch(`${providers}/heal`, { spec: { replicas: 2 } });
    await until('the new leader to scale up', async () => (await list()).length > before);
    const leaderHeal = (performance.now() - t1) / 1000;
    return [
      `heal: agent SIGKILLed → replacement Running on another node: ${agentHeal.toFixed(1)} s (agent lease grace ${graceS} s; aim ≤ ${graceS + 5} s)`,
      `heal: controller leader SIGKILLed → new leader acting (scale-up placed): ${leaderHeal.toFixed(1)} s (leader lease duration ${leaseS} s; aim ≤ ${leaseS + 5} s)`,
    ].join('\n');
  } finally {
    await kube.delete(`${providers}/heal`).catch(() => {});
    for (const p of [...controllers.values(), ...agents.values()]) await killed(p, 'SIGTERM');
    kube.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const rounds = arg('--rounds', 3);
  const target = hostTarget();
  const nats = await server(
    'nats-server',
    (f) => ['-c', f],
    (p) => `listen: 127.0.0.1:${p}\n`,
  );
  const registry = await server(
    'docker-registry',
    (f) => ['serve', f],
    (p, d) =>
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${d}/storage\nhttp:\n  addr: 127.0.0.1:${p}\n`,
  );
  const host = `127.0.0.1:${registry.port}`;
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

  const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });
  const breakdowns: Record<'uncached' | 'cached', Array<Record<string, number>>> = { uncached: [], cached: [] };
  async function coldStart(name: string, ref: string, digest: string, kind?: 'uncached' | 'cached', node = NODE): Promise<number> {
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
        if (kind && h) breakdowns[kind].push(breakdown(h.timeline, performance.timeOrigin + t0, performance.timeOrigin + t0 + ms));
        return ms;
      }
      if (o.status?.phase === 'Failed') throw new Error(`${name} failed: ${o.status.reason}: ${o.status.message}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${name} did not start`);
  }

  const density = await measureDensity(arg('--density', 50), {
    kubeConfigYaml: api.kubeconfigYaml,
    natsPort: nats.port,
    registry: host,
    issuerSeed,
    target,
    echo,
  });

  let heal = '';
  const hostMs: number[] = [];
  const pullMs: number[] = [];
  const uncached: number[] = [];
  const cached: number[] = [];
  const uncachedNoPool: number[] = [];
  const cachedNoPool: number[] = [];
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
      const bare = new ProviderHost({
        libraryPath: lib,
        expectedCapid: 'gantry:echo',
        namespace: 'bench',
        provider: 'bare',
        instance: `bare-${r}`,
        nats: { servers: `nats://127.0.0.1:${nats.port}` },
      });
      await bare.start();
      hostMs.push(performance.now() - t1);
      await bare.stop();
      // let the pool refill after the bare host's start, as on a node between two starts
      await new Promise((res) => setTimeout(res, 1000));
      uncached.push(await coldStart(`big-${r}-a`, ref, digest, 'uncached'));
      await new Promise((res) => setTimeout(res, 1000));
      cached.push(await coldStart(`big-${r}-b`, ref, digest, 'cached'));
      uncachedNoPool.push(await coldStart(`big-${r}-c`, ref, digest, undefined, `${NODE}-nopool`));
      cachedNoPool.push(await coldStart(`big-${r}-d`, ref, digest, undefined, `${NODE}-nopool`));
      if (r === 0) console.log(`archive: ${(bytes.length / 1024 / 1024).toFixed(1)} MiB (${target})`);
    }
    heal = await measureHeal({
      kubeConfigYaml: api.kubeconfigYaml,
      natsPort: nats.port,
      registry: host,
      issuerSeed,
      target,
      echo,
      skip: process.argv.includes('--no-heal'),
    });
  } finally {
    await agent.stop();
    await plainAgent.stop();
    rmSync(plainCacheDir, { recursive: true, force: true });
    kube.close();
    await api.stop();
    await registry.stop();
    await nats.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
  const base = median(pullMs);
  const row = (label: string, xs: number[]) =>
    console.log(
      `${label.padEnd(44)} ${median(xs).toFixed(0).padStart(6)} ms   ${(median(xs) / base).toFixed(2)}× baseline   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`,
    );
  console.log(`rounds: ${rounds}, medians`);
  row('baseline: registry pull + verify, no agent', pullMs);
  row('baseline: bare host start (forked), no agent', hostMs);
  row('created → Running, uncached', uncached);
  row('created → Running, cached', cached);
  row('before (no host pool): uncached', uncachedNoPool);
  row('before (no host pool): cached', cachedNoPool);
  console.log(`cached / uncached: ${(median(cached) / median(uncached)).toFixed(2)}`);
  console.log('\nwhere the time goes (medians, ms; host steps are inside "host start")');
  const steps = [...new Set([...breakdowns.uncached, ...breakdowns.cached].flatMap((b) => Object.keys(b)))];
  const med = (kind: 'uncached' | 'cached', k: string) => {
    const xs = breakdowns[kind].map((b) => b[k]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs).toFixed(1).padStart(8) : '       -';
  };
  console.log(`${'step'.padEnd(44)} ${'uncached'.padStart(8)} ${'cached'.padStart(8)}`);
  for (const k of steps) console.log(`${k.padEnd(44)} ${med('uncached', k)} ${med('cached', k)}`);
  console.log(density);
  console.log(heal);
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} (${availableParallelism()} CPUs)`,
  );
}

await main();
