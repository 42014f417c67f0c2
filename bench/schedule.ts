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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeClient, loadKubeConfig } from '../runtime/kube.js';
import { startApiServer } from '../apiserver/index.js';
import { type ControlPlane, controlPlaneVersions, startControlPlane } from '../sandbox/controlplane/index.js';
import { createNodes, parallel, serverCpu, setUpCluster } from './scheduling/cluster.js';
import { type MeasuredController, startController } from './scheduling/controller.js';
import { type PodScheduling, schedulePods } from './scheduling/pods.js';
import { createRawOwners, type RawJob, rawCreates, runRaw } from './scheduling/raw.js';

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

if (values['raw-child']) {
  process.stdout.write(JSON.stringify(await rawCreates(JSON.parse(values['raw-child']))) + '\n');
  process.exit(0);
}

/** The raw baseline's two runs, before and after the controller phase. */
type RawRun = { seconds: number; cpuSeconds: number };

/** The controller phase: Providers created, every replica placed. */
interface Placement {
  placed: number;
  placeSeconds: number;
  placeRate: number;
  peak: number;
  baseRss: number;
  perPlacement: string;
  totalRequests: number;
  reconciles: number;
  ctlCpu: number;
  placeServerCpu: number;
  apiCpu: number;
}

async function measurePlacement(
  client: KubeClient,
  ctl: MeasuredController,
  cp: ControlPlane | undefined,
  ref: string,
): Promise<Placement> {
  const { placements, work, peakRss, cpuSeconds } = ctl;
  const baseRss = peakRss();
  const work0 = await work();
  const cpu0 = cpuSeconds();
  const serverCpu0 = serverCpu(cp);
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
  const placeServerCpu = serverCpu(cp) - serverCpu0;
  const own = process.cpuUsage(ownCpu0);
  const apiCpu = (own.user + own.system) / 1e6;

  return {
    placed,
    placeSeconds,
    placeRate,
    peak,
    baseRss,
    perPlacement,
    totalRequests,
    reconciles: work1.reconciles - work0.reconciles,
    ctlCpu,
    placeServerCpu,
    apiCpu,
  };
}

/** The readiness phase: the figures of its report line. */
interface Readiness {
  instances: number;
  reportedSeconds: number;
  readySeconds: number;
  allReady: boolean;
  reconciles: number;
  statusPatches: number;
  readyCpu: number;
}

/**
 * Readiness: every instance reported Running (as agents would, 64 at a time) until every
 * Provider counts all its replicas ready — the controller's cost per instance event.
 */
async function measureReadiness(client: KubeClient, ctl: MeasuredController): Promise<Readiness> {
  const { work, cpuSeconds } = ctl;
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
  return {
    instances: benchInstances.length,
    reportedSeconds,
    readySeconds,
    allReady,
    reconciles: readyWork1.reconciles - readyWork0.reconciles,
    statusPatches,
    readyCpu,
  };
}

function report(raw: RawRun, rawAfter: RawRun, p: Placement, r: Readiness, pods: PodScheduling | undefined, real: boolean): string[] {
  const { placed, placeSeconds, placeRate, peak, baseRss, perPlacement, totalRequests, ctlCpu, placeServerCpu, apiCpu } = p;
  const rawRate = (TOTAL / raw.seconds + TOTAL / rawAfter.seconds) / 2;
  const mb = (b: number) => (b / 1048576).toFixed(0);
  const v = real ? controlPlaneVersions() : undefined;
  const lines = [
    `API server: ${v ? `kube-apiserver v${v.k8s} + etcd v${v.etcd} (real; kube-scheduler v${v.k8s})` : 'the emulator'}`,
    `replicas: ${TOTAL} (${PROVIDERS} Providers × ${REPLICAS}) over ${NODES} nodes (half amd64, half arm64)`,
    `raw ProviderInstance creates:   ${rawRate.toFixed(0).padStart(6)} /s  (mean of ${(TOTAL / raw.seconds).toFixed(0)} /s before and ${(TOTAL / rawAfter.seconds).toFixed(0)} /s after the controller phase, concurrency ${CONC})`,
    `controller placements:          ${placeRate.toFixed(0).padStart(6)} /s  (${placed} in ${placeSeconds.toFixed(2)} s, incl. resolve and status)`,
    `ratio placements/raw:           ${(placeRate / rawRate).toFixed(2)}`,
    real
      ? `CPU during placement:           controller ${ctlCpu.toFixed(1)} s, kube-apiserver+etcd ${placeServerCpu.toFixed(1)} s, bench ${apiCpu.toFixed(1)} s`
      : `CPU during placement:           controller ${ctlCpu.toFixed(1)} s, emulator+bench ${apiCpu.toFixed(1)} s`,
    `client CPU per object:          controller ${((ctlCpu / Math.max(1, placed)) * 1e6).toFixed(0)} µs per placement, raw client ${(((raw.cpuSeconds + rawAfter.cpuSeconds) / 2 / TOTAL) * 1e6).toFixed(0)} µs per create`,
    `controller API requests:        ${(totalRequests / Math.max(1, placed)).toFixed(2)} per placement (${perPlacement}); ${p.reconciles} reconciles`,
    `readiness:                      ${r.instances} instances reported Running in ${r.reportedSeconds.toFixed(2)} s, all Providers ready after ${r.readySeconds.toFixed(2)} s${r.allReady ? '' : ' (NOT all ready)'}; controller ${r.reconciles} reconciles, ${r.statusPatches} status writes, ${r.readyCpu.toFixed(1)} s CPU`,
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
  return lines;
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
const layoutDir = mkdtempSync(join(tmpdir(), 'gantry-bench-layout-'));
const kc = loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml });
const client = new KubeClient(kc);
let controller: MeasuredController | undefined;
try {
  const { ref, digest, issuer } = await setUpCluster(client, layoutDir);
  const t0 = performance.now();
  await createNodes(client, NODES);
  process.stderr.write(`setup: ${NODES} nodes + leases in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  // baseline: the same number of ProviderInstances created directly, same concurrency as the controller
  const instancePath = '/apis/gantry.dev/v1alpha1/namespaces/bench-raw/providerinstances';
  const owners = await createRawOwners(client, PROVIDERS, ref);
  const job: RawJob = {
    kubeconfig: api.kubeconfigPath,
    path: instancePath,
    total: TOTAL,
    concurrency: CONC,
    providers: PROVIDERS,
    nodes: NODES,
    ref,
    digest,
    issuer,
    owners,
  };
  const script = fileURLToPath(import.meta.url);
  const raw = await runRaw(script, job);
  // remove the baseline's objects so both phases run against a store of the same size
  await parallel(TOTAL, 32, (i) => client.delete(`${instancePath}/raw-${i}`));

  // the controller, as a user runs it
  controller = await startController(api.kubeconfigPath, issuer);
  const placement = await measurePlacement(client, controller, cp, ref);
  const readiness = await measureReadiness(client, controller);
  // the baseline again, after the controller has stopped: the machine is shared, so load can
  // drift between phases; the ratio is taken against the mean of the two baselines
  await controller.stop();
  controller = undefined;
  const rawAfter = await runRaw(script, job);
  const pods = cp ? await schedulePods(cp, client, { nodes: NODES, total: TOTAL, concurrency: CONC }) : undefined;
  process.stdout.write(report(raw, rawAfter, placement, readiness, pods, cp !== undefined).join('\n') + '\n');
  if (placement.placed < TOTAL || (pods && pods.bound < pods.total)) process.exitCode = 1;
} finally {
  controller?.process.kill('SIGTERM');
  client.close();
  rmSync(layoutDir, { recursive: true, force: true });
  await api.stop();
}
