/**
 * What the membrane costs a cold start: "ProviderInstance created" → "status.phase Running"
 * through an in-process controller and agent, with the membrane (a real nats-server in
 * operator mode, a MembraneAuthority, the controller giving each instance's host its NATS
 * identity) and, side by side in the same run, without it (a plain nats-server, no
 * authority: hosts connect with the bench's plain URL) as the baseline.
 *
 * Each side has its own API emulator, registry-backed archive, controller and agent (default
 * host pool), so the two never share a reconciler's work. The first instance on each side is
 * uncached (pulled from a real docker-registry); then `--rounds` instances of the same digest
 * (cached, so the identity step is what differs), the sides alternating, each instance deleted
 * and the pool refilled before the next.
 *
 * Where the membrane's time goes comes from the bench's own watch of the instance (when
 * status.hostKey and status.hostJwt appear, or — the previous design — when the controller's
 * Secret gantry-instance-* appears) and the agent's step marks (`hostJwt`: the host's creds
 * file written). The same file runs at commit 0460e93 (the Secret flow), for the old/new
 * comparison in docs/performance.md: it uses only what both designs have.
 *
 * Run: npm run build && make -C providers && node dist/bench/membrane-coldstart.js [--rounds N] [--json]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentOptions, startAgent } from '../agent/index.js';
import type { StartTimeline } from '../agent/instance-runner.js';
import { hostTarget } from '../agent/target.js';
import { capabilityGrantCrd, type ProviderInstance, providerCrd, providerInstanceCrd } from '../api/index.js';
import { startApiServer } from '../apiserver/index.js';
import { startController } from '../controller/index.js';
import { MembraneAuthority } from '../membrane/authority.js';
import { generateSeed, publicKeyFromSeed } from '../par/index.js';
import { Informer } from '../runtime/informer.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../runtime/kube.js';
import { packageRoot } from '../runtime/paths.js';
import { NS, publishEcho } from './coldstart/cluster.js';
import { startBenchRegistry } from './local-registry.js';
import { startBenchNats } from './support/local-nats.js';
import { median } from './timing.js';

const SYSTEM = 'gantry-system';
const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });
const now = () => performance.timeOrigin + performance.now();

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.9) - 1)];
}

/** Epoch ms at which the bench's watch first saw each thing happen to one instance. */
interface Seen {
  created: number;
  hostKey?: number;
  hostJwt?: number;
  secret?: number;
  running?: number;
  /** status.reason values seen on the way (CredentialsPending = the agent waited on a retry) */
  reasons: Set<string>;
  onRunning?: () => void;
}

/** One start: its total and its steps (ms from the previous step), by name. */
type Sample = { total: number; steps: Record<string, number> };

type Side = Awaited<ReturnType<typeof startSide>>;

/** API emulator with the CRDs, NATS (operator mode under the membrane), controller, agent, and the bench's watches. */
async function startSide(label: string, membrane: boolean, registry: string, issuerSeed: string) {
  const authority = membrane ? MembraneAuthority.generate() : undefined;
  const nats = await startBenchNats(`gantry-bench-csr-${label}-`, (dir) => {
    if (!authority) return '';
    mkdirSync(join(dir, 'jwt'), { recursive: true });
    return authority.serverConfig(join(dir, 'jwt'));
  });
  const api = await startApiServer({});
  const kubeConfig = loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml });
  const kube = new KubeClient(kubeConfig);
  for (const crd of [providerCrd(), providerInstanceCrd(), capabilityGrantCrd()])
    await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM } }).catch(() => {});
  const controller = await startController({
    kubeConfig,
    namespace: SYSTEM,
    trustedIssuers: [publicKeyFromSeed(issuerSeed)],
    plainHttpRegistries: [registry],
    leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
    membrane: authority ? { authority, servers: nats.url } : undefined,
  });
  const cacheDir = mkdtempSync(join(tmpdir(), `gantry-bench-csr-${label}-agent-`));
  // membraneAccount exists only with node-made host keys; a spread keeps this file compiling at 0460e93 too
  const account: Partial<AgentOptions> = authority ? ({ membraneAccount: authority.accountKey } as Partial<AgentOptions>) : {};
  const node = `bench-${label}`;
  const agent = await startAgent({
    kubeConfig,
    node,
    natsUrl: nats.url,
    cacheDir,
    trustedIssuers: [publicKeyFromSeed(issuerSeed)],
    plainHttpRegistries: [registry],
    membrane,
    ...account,
  });
  const seen = new Map<string, Seen>();
  const watch = new Informer<ProviderInstance>({ client: kube, path: instances });
  const onInstance = (i: ProviderInstance) => {
    const s = seen.get(i.metadata.name);
    if (!s) return;
    const t = now();
    const st = i.status as (ProviderInstance['status'] & { hostKey?: string; hostJwt?: string; reason?: string }) | undefined;
    if (st?.hostKey && s.hostKey === undefined) s.hostKey = t;
    if (st?.hostJwt && s.hostJwt === undefined) s.hostJwt = t;
    if (st?.reason) s.reasons.add(st.reason);
    if (st?.phase === 'Running' && s.running === undefined) {
      s.running = t;
      s.onRunning?.();
    }
  };
  watch.addHandler({ add: onInstance, update: onInstance });
  // the previous design: the controller's Secret for the instance (labelled with its uid)
  type Secret = { metadata: { name: string; labels?: Record<string, string> } };
  const secrets = new Informer<Secret>({ client: kube, path: `/api/v1/namespaces/${SYSTEM}/secrets` });
  const onSecret = (x: Secret) => {
    if (!x.metadata.name.startsWith('gantry-instance-')) return;
    const uids = new Set(Object.values(x.metadata.labels ?? {}));
    for (const [name, s] of seen) if (s.secret === undefined && uids.has(uidOf.get(name) ?? '-')) s.secret = now();
  };
  const uidOf = new Map<string, string>();
  secrets.addHandler({ add: onSecret, update: onSecret });
  await watch.start();
  await secrets.start();
  for (let i = 0; !controller.isLeader(); i++) {
    if (i > 600) throw new Error(`${label}: the controller did not lead`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { label, membrane, nats, api, kube, controller, agent, cacheDir, seen, uidOf, watch, secrets, samples: [] as Sample[] };
}

async function stopSide(s: Side): Promise<void> {
  await s.watch.stop();
  await s.secrets.stop();
  await s.agent.stop();
  await s.controller.stop();
  s.kube.close();
  await s.api.stop();
  await s.nats.stop();
  rmSync(s.cacheDir, { recursive: true, force: true });
}

/** Create instance `name`, wait (on the watch) until it is Running, and take its timings; then delete it. */
async function coldStart(s: Side, name: string, archive: { ref: string; digest: string }): Promise<Sample> {
  const seen: Seen = { created: now(), reasons: new Set() };
  const running = new Promise<void>((r) => {
    seen.onRunning = r;
  });
  s.seen.set(name, seen);
  const created = (await s.kube.create(instances, {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name, namespace: NS, labels: { 'gantry.dev/provider': name, 'gantry.dev/node': s.agent.node } },
    spec: { provider: name, nodeName: s.agent.node, archive: { ...archive, revision: 1 }, target: hostTarget(), capid: 'gantry:echo' },
  })) as ProviderInstance;
  s.uidOf.set(name, created.metadata.uid ?? '');
  const timeout = new Promise<never>((_, rej) =>
    setTimeout(() => rej(new Error(`${s.label}/${name} not Running in 60 s`)), 60_000).unref(),
  );
  await Promise.race([running, timeout]);
  const sample = steps(seen, s.agent.hosts()[`${NS}/${name}`]?.timeline ?? { marks: [] });
  await s.kube.delete(`${instances}/${name}`);
  for (let i = 0; i < 500 && s.agent.hosts()[`${NS}/${name}`]; i++) await new Promise((r) => setTimeout(r, 20));
  s.seen.delete(name);
  await new Promise((r) => setTimeout(r, 1000)); // the pool refills, as on a node between two starts
  return sample;
}

/** The identity step's parts, each from the one before it (ms); absent parts are the other design's. */
function steps(seen: Seen, timeline: StartTimeline): Sample {
  const { marks, host } = timeline;
  const at = (step: string) => marks.find(([k]) => k === step)?.[1];
  const archiveReady = at('claimsRecheckedSealed') ?? at('cacheReadAndVerified') ?? at('pulledAndVerified');
  const credsWritten = at('hostJwt'); // node-made keys: credsFor returned, the creds file written
  const out: Record<string, number> = {};
  const span = (label: string, from?: number, to?: number) => {
    if (from !== undefined && to !== undefined) out[label] = to - from;
  };
  span('created → hostKey seen (watch)', seen.created, seen.hostKey);
  span('hostKey seen → hostJwt seen (controller signs)', seen.hostKey, seen.hostJwt);
  span('hostJwt seen → creds written (agent mark)', seen.hostJwt, credsWritten);
  span('created → Secret gantry-instance-* seen (controller mints)', seen.created, seen.secret);
  span('created → archive ready (agent mark)', seen.created, archiveReady);
  span('archive ready → creds written (the identity step)', archiveReady, credsWritten);
  span('creds written → Running seen', credsWritten, seen.running);
  span('host start (Starting → Running marks)', at('Starting'), at('Running'));
  if (host) {
    out['  host claimed from the pool (1 = yes)'] = host.pooled ? 1 : 0;
    for (const [k, v] of Object.entries(host.steps)) out[`  host: ${k}`] = v;
  }
  span('Running mark → Running seen (status write + watch)', at('Running'), seen.running);
  out['CredentialsPending retries'] = seen.reasons.has('CredentialsPending') ? 1 : 0;
  return { total: (seen.running ?? now()) - seen.created, steps: out };
}

function report(sides: Side[], uncached: Record<string, number>, rounds: number): Record<string, number> {
  const [m, p] = sides;
  const totals = (s: Side) => s.samples.map((x) => x.total);
  console.log(`rounds: ${rounds} cached starts a side (echo provider, default host pool), created → Running`);
  for (const s of sides) {
    const xs = totals(s);
    console.log(
      `${`${s.label}:`.padEnd(24)} median ${median(xs).toFixed(0).padStart(5)} ms   p90 ${p90(xs).toFixed(0).padStart(5)} ms   uncached once ${uncached[s.label].toFixed(0)} ms   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`,
    );
  }
  const ratio = median(totals(m)) / median(totals(p));
  console.log(`membrane / no membrane (medians): ${ratio.toFixed(2)}×, +${(median(totals(m)) - median(totals(p))).toFixed(0)} ms`);
  console.log(`\nwhere the time goes (medians, ms; the identity rows are each design's own)`);
  console.log(`  ${'step'.padEnd(58)} ${m.label.padStart(10)} ${p.label.padStart(12)}`);
  const keys = [...new Set(sides.flatMap((s) => s.samples.flatMap((x) => Object.keys(x.steps))))];
  const cell = (s: Side, k: string) => {
    const xs = s.samples.map((x) => x.steps[k]).filter((x): x is number => x !== undefined);
    if (!xs.length) return '-';
    return k.endsWith('retries') || k.includes('1 = yes') ? `${xs.reduce((a, b) => a + b, 0)} of ${xs.length}` : median(xs).toFixed(1);
  };
  for (const k of keys) console.log(`  ${k.padEnd(58)} ${cell(m, k).padStart(10)} ${cell(p, k).padStart(12)}`);
  return {
    membraneMedian: median(totals(m)),
    membraneP90: p90(totals(m)),
    plainMedian: median(totals(p)),
    plainP90: p90(totals(p)),
    ratio,
  };
}

async function main(): Promise<void> {
  const rounds = arg('--rounds', 15);
  const registry = await startBenchRegistry('gantry-bench-csr-');
  const issuerSeed = generateSeed('account');
  const echo = readFileSync(join(packageRoot(), 'providers', 'build', 'echo.so'));
  const archive = await publishEcho(
    { kubeConfigYaml: '', natsPort: 0, registry: registry.host, issuerSeed, target: hostTarget(), echo },
    'csr',
  );
  const sides = [
    await startSide('membrane', true, registry.host, issuerSeed),
    await startSide('no-membrane', false, registry.host, issuerSeed),
  ];
  const uncached: Record<string, number> = {};
  let result: Record<string, number> = {};
  try {
    for (const s of sides) uncached[s.label] = (await coldStart(s, 'first', archive)).total;
    for (let r = 0; r < rounds; r++)
      for (const s of r % 2 ? [...sides].reverse() : sides) s.samples.push(await coldStart(s, `r${r}`, archive));
    result = report(sides, uncached, rounds);
  } finally {
    for (const s of sides) await stopSide(s);
    await registry.stop();
  }
  const load = loadavg();
  console.log(`load average at the end: ${load.map((x) => x.toFixed(2)).join(', ')} (${availableParallelism()} CPUs)`);
  if (process.argv.includes('--json'))
    console.log(
      `RESULT ${JSON.stringify({ ...result, uncachedMembrane: uncached.membrane, uncachedPlain: uncached['no-membrane'], load1: load[0] })}`,
    );
}

await main();
