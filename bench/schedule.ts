/**
 * Scheduling throughput: 10,000 replicas (10 Providers × 1,000) over 5,000 nodes, placed by a
 * real `gantry controller` process (real signed archive), against the raw rate
 * of creating the same number of ProviderInstances directly on the same emulator in the same
 * run (from a separate client process, at the controller's own bound on API writes in
 * flight, 64; measured before and after the controller phase, since the machine is shared),
 * plus the controller's peak memory (VmHWM), its CPU per placement beside the raw client's
 * CPU per create (less sensitive to other load than rates), and the API requests it made
 * per placement (from its `gantry_controller_api_requests_total`). The archive lives in an OCI image-layout
 * directory so registry latency does not enter a scheduling measurement.
 *
 *
 * With `--apiserver real` the same run goes against a real kube-apiserver + etcd (built by
 * scripts/control-plane.sh; request limits and priority-and-fairness off, as kwok's
 * --disable-qps-limits does) and then, on the same 5,000 Nodes, kube-scheduler binds as many
 * Pods as Gantry placed replicas, each with a nodeSelector on `kubernetes.io/arch: amd64` (the
 * nearest equivalent of Gantry's target filter; nothing runs the Pods, they are only bound).
 * It prints Gantry placements/s beside kube-scheduler pods/s and the raw create rates of both
 * kinds of object, all from one run on one API server.
 *
 *   npm run build && node dist/bench/schedule.js [--nodes 5000] [--providers 10] [--replicas 1000] [--apiserver emulated|real]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startApiServer } from '../apiserver/index.js';
import { startControlPlane, controlPlaneVersions, type ControlPlane } from '../sandbox/controlplane/index.js';
import { KubeClient, loadKubeConfig } from '../runtime/kube.js';
import { providerCrd, providerInstanceCrd, agentLeaseName } from '../api/index.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { openArchiveStore } from '../registry/index.js';
import { gantryBin } from '../runtime/paths.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    providers: { type: 'string', default: '10' },
    replicas: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    apiserver: { type: 'string', default: 'emulated' },
    'raw-child': { type: 'string' },
  },
});
const GROUND = values.apiserver;
if (GROUND !== 'emulated' && GROUND !== 'real') throw new Error(`--apiserver ${GROUND}: expected emulated or real`);
const NODES = Number(values.nodes);
const PROVIDERS = Number(values.providers);
const REPLICAS = Number(values.replicas);
const TOTAL = PROVIDERS * REPLICAS;
const CONC = Number(values.concurrency);

async function parallel(n: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

interface RawJob {
  kubeconfig: string;
  path: string;
  total: number;
  concurrency: number;
  providers: number;
  nodes: number;
  ref: string;
  digest: string;
  issuer: string;
  /** uid of each raw Provider (replicas 0) the instances name as their controller, as the controller's do */
  owners: string[];
}

/** The baseline's client: its own process, like the controller, so both phases split client and server work the same way. */
async function rawCreates(job: RawJob): Promise<{ seconds: number; cpuSeconds: number }> {
  const client = new KubeClient(loadKubeConfig({ kubeconfigPath: job.kubeconfig }));
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  await parallel(job.total, job.concurrency, (i) =>
    client.create(job.path, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'ProviderInstance',
      // the same object the controller creates, so both phases ask the same of the API server
      metadata: {
        name: `raw-${i}`,
        labels: { 'gantry.dev/provider': `raw-${i % job.providers}`, 'gantry.dev/node': `node-${i % job.nodes}` },
        ownerReferences: [
          {
            apiVersion: 'gantry.dev/v1alpha1',
            kind: 'Provider',
            name: `raw-${i % job.providers}`,
            uid: job.owners[i % job.providers],
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        provider: `raw-${i % job.providers}`,
        nodeName: `node-${i % job.nodes}`,
        archive: { ref: job.ref, digest: job.digest, revision: 1 },
        target: 'x86_64-linux',
        capid: 'wascap:keyvalue',
        linkName: 'default',
        issuers: [job.issuer],
      },
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  client.close();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

if (values['raw-child']) {
  process.stdout.write(JSON.stringify(await rawCreates(JSON.parse(values['raw-child']))) + '\n');
  process.exit(0);
}

// the real server's own limits are lifted so the measurement is of scheduling, not of its
// max-in-flight guard; kube-scheduler's client gets the QPS scheduler_perf gives it
const cp: ControlPlane | undefined =
  GROUND === 'real'
    ? await startControlPlane({
        scheduler: true,
        schedulerQps: 5000,
        schedulerBurst: 5000,
        apiserverArgs: ['--max-requests-inflight=0', '--max-mutating-requests-inflight=0', '--enable-priority-and-fairness=false'],
      })
    : undefined;
const api = cp ?? (await startApiServer({ port: 0 }));
/** CPU seconds a process has used so far (utime + stime from /proc). */
const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const serverCpu = () =>
  cp
    ? Object.entries(cp.pids())
        .filter(([n]) => n !== 'kube-scheduler')
        .reduce((a, [, pid]) => a + cpuOf(pid), 0)
    : 0;
const layoutDir = mkdtempSync(join(tmpdir(), 'gantry-bench-layout-'));
const kc = loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml });
const client = new KubeClient(kc);
let controller: ReturnType<typeof spawn> | undefined;
try {
  for (const crd of [providerCrd(), providerInstanceCrd()])
    await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  for (const ns of ['gantry-system', 'bench', 'bench-raw'])
    await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => {});
  const issuer = generateSeed('account');
  const bytes = await createPar({
    name: 'bench',
    vendor: 'gantry',
    capid: 'wascap:keyvalue',
    version: '1.0.0',
    revision: 1,
    issuerSeed: issuer,
    subjectSeed: generateSeed('service'),
    binaries: { 'x86_64-linux': new Uint8Array(1024), 'aarch64-linux': new Uint8Array(1024) },
  });
  const ref = `oci-layout:${layoutDir}`;
  const pushed = await openArchiveStore(ref).push(bytes);

  const t0 = performance.now();
  const renewTime = new Date().toISOString().replace('Z', '000Z');
  await parallel(NODES, 32, async (i) => {
    const name = `node-${i}`;
    await client.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/arch': i % 2 ? 'arm64' : 'amd64', 'kubernetes.io/os': 'linux' } },
    });
    // capacity too, so kube-scheduler's resource fit sees room for Pods
    const capacity = { cpu: '8', memory: '32Gi', pods: '110' };
    await client.mergePatch(`/api/v1/nodes/${name}/status`, {
      status: { conditions: [{ type: 'Ready', status: 'True' }], capacity, allocatable: capacity },
    });
    await client.create('/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: agentLeaseName(name) },
      spec: { holderIdentity: name, renewTime },
    });
  });
  process.stderr.write(`setup: ${NODES} nodes + leases in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  // baseline: the same number of ProviderInstances created directly, same concurrency as the controller
  const instancePath = '/apis/gantry.dev/v1alpha1/namespaces/bench-raw/providerinstances';
  // owners for the baseline's instances: Providers with no replicas, so the controller leaves them be
  const owners: string[] = [];
  for (let i = 0; i < PROVIDERS; i++)
    owners.push(
      (
        await client.create('/apis/gantry.dev/v1alpha1/namespaces/bench-raw/providers', {
          apiVersion: 'gantry.dev/v1alpha1',
          kind: 'Provider',
          metadata: { name: `raw-${i}` },
          spec: { archive: { ref, revision: 1 }, replicas: 0 },
        })
      ).metadata.uid,
    );
  const job: RawJob = {
    kubeconfig: api.kubeconfigPath,
    path: instancePath,
    total: TOTAL,
    concurrency: CONC,
    providers: PROVIDERS,
    nodes: NODES,
    ref,
    digest: pushed.digest,
    issuer: publicKeyFromSeed(issuer),
    owners,
  };
  const runRaw = () =>
    new Promise<{ seconds: number; cpuSeconds: number }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(process.env.BENCH_CPU_PROF, 'raw')] : []),
          fileURLToPath(import.meta.url),
          '--raw-child',
          JSON.stringify(job),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`raw-create child exited ${code}`))));
    });
  const raw = await runRaw();
  // remove the baseline's objects so both phases run against a store of the same size
  await parallel(TOTAL, 32, (i) => client.delete(`${instancePath}/raw-${i}`));

  // the controller, as a user runs it
  controller = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []),
      gantryBin(),
      'controller',
      '--kubeconfig',
      api.kubeconfigPath,
      '--trust-issuer',
      publicKeyFromSeed(issuer),
      '--agent-lease-grace',
      '1h',
      '--metrics-addr',
      '127.0.0.1:0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } },
  );
  let stderr = '';
  const metricsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller did not start:\n${stderr}`)), 30_000);
    controller!.stderr!.on('data', (d) => {
      stderr = (stderr + d).slice(-8000);
      const m = /metrics (http:\/\/[^\s]+)\/metrics/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    controller!.on('exit', (code) => reject(new Error(`controller exited ${code}:\n${stderr}`)));
  });
  const metricsText = async () => (await fetch(`${metricsUrl}/metrics`)).text();
  const placements = async () => Number(/^gantry_controller_placements_total (\d+)/m.exec(await metricsText())?.[1] ?? 0);
  /** API requests the controller made, by method+resource, and reconciles run (from its /metrics). */
  const work = async () => {
    const text = await metricsText();
    const requests = new Map<string, number>();
    for (const m of text.matchAll(/^gantry_controller_api_requests_total\{method="(\w+)",resource="([^"]+)"\} (\d+)/gm))
      requests.set(`${m[1]} ${m[2]}`, Number(m[3]));
    const reconciles = [...text.matchAll(/^gantry_controller_reconcile_duration_seconds_count\{[^}]*\} (\d+)/gm)].reduce(
      (a, m) => a + Number(m[1]),
      0,
    );
    return { requests, reconciles };
  };
  const peakRss = () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${controller!.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  };
  const baseRss = peakRss();
  const cpuSeconds = () => {
    const f = readFileSync(`/proc/${controller!.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const work0 = await work();
  const cpu0 = cpuSeconds();
  const serverCpu0 = serverCpu();
  const ownCpu0 = process.cpuUsage();

  const p0 = performance.now();
  await parallel(PROVIDERS, PROVIDERS, (i) =>
    client.create('/apis/gantry.dev/v1alpha1/namespaces/bench/providers', {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: `kv-${i}` },
      spec: { archive: { ref, revision: 1 }, replicas: REPLICAS },
    }),
  );
  let placed = 0;
  const deadline = Date.now() + 600_000;
  while (placed < TOTAL && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    placed = await placements();
    if (process.env.BENCH_TRACE)
      process.stderr.write(
        `${((performance.now() - p0) / 1000).toFixed(1)} s: ${placed} placed, controller CPU ${(cpuSeconds() - cpu0).toFixed(2)} s\n`,
      );
  }
  const placeSeconds = (performance.now() - p0) / 1000;
  const placeRate = placed / placeSeconds;
  const peak = peakRss();
  const work1 = await work();
  const perPlacement = [...work1.requests]
    .map(([k, n]) => [k, n - (work0.requests.get(k) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${(n / Math.max(1, placed)).toFixed(3)}`)
    .join(', ');
  const totalRequests = [...work1.requests].reduce((a, [k, n]) => a + n - (work0.requests.get(k) ?? 0), 0);
  const ctlCpu = cpuSeconds() - cpu0;
  const placeServerCpu = serverCpu() - serverCpu0;
  const own = process.cpuUsage(ownCpu0);
  const apiCpu = (own.user + own.system) / 1e6;

  // readiness: every instance reported Running (as agents would, 64 at a time) until every
  // Provider counts all its replicas ready — the controller's cost per instance event
  const benchInstances = (await client.list('/apis/gantry.dev/v1alpha1/namespaces/bench/providerinstances')).items;
  const readyWork0 = await work();
  const readyCpu0 = cpuSeconds();
  const r0 = performance.now();
  await parallel(benchInstances.length, CONC, (i) =>
    client.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/bench/providerinstances/${benchInstances[i].metadata.name}/status`, {
      status: { phase: 'Running', restartCount: 0 },
    }),
  );
  const reportedSeconds = (performance.now() - r0) / 1000;
  const readyDeadline = Date.now() + 300_000;
  let allReady = false;
  while (!allReady && Date.now() < readyDeadline) {
    const ps = (await client.list('/apis/gantry.dev/v1alpha1/namespaces/bench/providers')).items;
    allReady = ps.length === PROVIDERS && ps.every((p: any) => p.status?.readyReplicas === REPLICAS);
    if (!allReady) await new Promise((r) => setTimeout(r, 100));
  }
  const readySeconds = (performance.now() - r0) / 1000;
  const readyCpu = cpuSeconds() - readyCpu0;
  const readyWork1 = await work();
  const statusPatches = (readyWork1.requests.get('PATCH providers/status') ?? 0) - (readyWork0.requests.get('PATCH providers/status') ?? 0);
  // the baseline again, after the controller has stopped: the machine is shared, so load can
  // drift between phases; the ratio is taken against the mean of the two baselines
  const stoppedCtl = new Promise((r) => controller!.once('exit', r));
  controller.kill('SIGTERM');
  await stoppedCtl;
  controller = undefined;
  const rawAfter = await runRaw();
  const rawRate = (TOTAL / raw.seconds + TOTAL / rawAfter.seconds) / 2;
  const pods = cp ? await schedulePods(cp) : undefined;
  const mb = (b: number) => (b / 1048576).toFixed(0);
  const v = cp ? controlPlaneVersions() : undefined;
  const lines = [
    `API server: ${v ? `kube-apiserver v${v.k8s} + etcd v${v.etcd} (real; kube-scheduler v${v.k8s})` : 'the emulator'}`,
    `replicas: ${TOTAL} (${PROVIDERS} Providers × ${REPLICAS}) over ${NODES} nodes (half amd64, half arm64)`,
    `raw ProviderInstance creates:   ${rawRate.toFixed(0).padStart(6)} /s  (mean of ${(TOTAL / raw.seconds).toFixed(0)} /s before and ${(TOTAL / rawAfter.seconds).toFixed(0)} /s after the controller phase, concurrency ${CONC})`,
    `controller placements:          ${placeRate.toFixed(0).padStart(6)} /s  (${placed} in ${placeSeconds.toFixed(2)} s, incl. resolve and status)`,
    `ratio placements/raw:           ${(placeRate / rawRate).toFixed(2)}`,
    cp
      ? `CPU during placement:           controller ${ctlCpu.toFixed(1)} s, kube-apiserver+etcd ${placeServerCpu.toFixed(1)} s, bench ${apiCpu.toFixed(1)} s`
      : `CPU during placement:           controller ${ctlCpu.toFixed(1)} s, emulator+bench ${apiCpu.toFixed(1)} s`,
    `client CPU per object:          controller ${((ctlCpu / Math.max(1, placed)) * 1e6).toFixed(0)} µs per placement, raw client ${(((raw.cpuSeconds + rawAfter.cpuSeconds) / 2 / TOTAL) * 1e6).toFixed(0)} µs per create`,
    `controller API requests:        ${(totalRequests / Math.max(1, placed)).toFixed(2)} per placement (${perPlacement}); ${work1.reconciles - work0.reconciles} reconciles`,
    `readiness:                      ${benchInstances.length} instances reported Running in ${reportedSeconds.toFixed(2)} s, all Providers ready after ${readySeconds.toFixed(2)} s${allReady ? '' : ' (NOT all ready)'}; controller ${readyWork1.reconciles - readyWork0.reconciles} reconciles, ${statusPatches} status writes, ${readyCpu.toFixed(1)} s CPU`,
    `controller peak RSS:            ${mb(peak)} MiB (at start ${mb(baseRss)} MiB)`,
    ...(pods
      ? [
          `raw Pod creates:                ${pods.createRate.toFixed(0).padStart(6)} /s  (${pods.total} Pods, concurrency ${CONC}, while kube-scheduler binds them)`,
          `kube-scheduler bindings:        ${pods.bindRate.toFixed(0).padStart(6)} /s  (${pods.bound} bound, first create to last bind ${pods.seconds.toFixed(2)} s; ${pods.afterCreates.toFixed(2)} s after the last create)`,
          `Gantry placements vs kube-scheduler pods: ${placeRate.toFixed(0)} /s vs ${pods.bindRate.toFixed(0)} /s = ${(placeRate / pods.bindRate).toFixed(2)}`,
          `CPU while binding:              kube-scheduler ${pods.schedulerCpu.toFixed(1)} s, kube-apiserver+etcd ${pods.serverCpu.toFixed(1)} s; every Pod on amd64: ${pods.allOnAmd64}`,
        ]
      : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (placed < TOTAL || (pods && pods.bound < pods.total)) process.exitCode = 1;
} finally {
  controller?.kill('SIGTERM');
  client.close();
  rmSync(layoutDir, { recursive: true, force: true });
  await api.stop();
}

/**
 * kube-scheduler's side, on the same API server and the same Nodes: as many Pods as Gantry
 * placed replicas, each selecting `kubernetes.io/arch: amd64` (half the Nodes, as Gantry's
 * x86_64-linux target does), created at the same concurrency as the raw baseline; counted as
 * bound from a watch on spec.nodeName.
 */
async function schedulePods(plane: ControlPlane): Promise<{
  total: number;
  bound: number;
  createRate: number;
  bindRate: number;
  seconds: number;
  afterCreates: number;
  schedulerCpu: number;
  serverCpu: number;
  allOnAmd64: boolean;
}> {
  const ns = 'bench-pods';
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => {});
  const amd64 = new Set(
    Array.from({ length: NODES }, (_, i) => i)
      .filter((i) => i % 2 === 0)
      .map((i) => `node-${i}`),
  );
  const boundTo = new Map<string, string>();
  let lastBind = 0;
  let allBound!: () => void;
  const done = new Promise<void>((r) => (allBound = r));
  const ac = new AbortController();
  // a watch the server ends (it does, under this load) is opened again; without a
  // resourceVersion it starts with the current state, so no binding is missed
  const watching = (async () => {
    while (!ac.signal.aborted) {
      await client
        .watch(
          `/api/v1/namespaces/${ns}/pods`,
          { allowWatchBookmarks: 'false' },
          (e) => {
            const node = e.object?.spec?.nodeName;
            if (node && !boundTo.has(e.object.metadata.name)) {
              boundTo.set(e.object.metadata.name, node);
              lastBind = performance.now();
              if (boundTo.size === TOTAL) allBound();
            }
          },
          ac.signal,
        )
        .catch(() => {});
      if (!ac.signal.aborted) await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const schedPid = plane.pids()['kube-scheduler'];
  const sched0 = cpuOf(schedPid);
  const server0 = serverCpu();
  const t0 = performance.now();
  await parallel(TOTAL, CONC, (i) =>
    client.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${i}` },
      spec: {
        nodeSelector: { 'kubernetes.io/arch': 'amd64' },
        containers: [{ name: 'c', image: 'example.invalid/none' }],
        terminationGracePeriodSeconds: 0,
      },
    }),
  );
  const created = performance.now();
  const deadline = setTimeout(allBound, 600_000);
  await done;
  clearTimeout(deadline);
  ac.abort();
  await watching;
  const seconds = ((lastBind || performance.now()) - t0) / 1000;
  return {
    total: TOTAL,
    bound: boundTo.size,
    createRate: TOTAL / ((created - t0) / 1000),
    bindRate: boundTo.size / seconds,
    seconds,
    afterCreates: Math.max(0, ((lastBind || created) - created) / 1000),
    schedulerCpu: cpuOf(schedPid) - sched0,
    serverCpu: serverCpu() - server0,
    allOnAmd64: [...boundTo.values()].every((n) => amd64.has(n)),
  };
}
