/**
 * kube-scheduler's side of the scheduling bench (`--apiserver real` only), on the same API
 * server and the same Nodes as Gantry's placements.
 */
import type { KubeClient } from '../../runtime/kube.js';
import type { ControlPlane } from '../../sandbox/controlplane/index.js';
import { cpuOf, parallel, serverCpu } from './cluster.js';

export interface PodScheduling {
  total: number;
  bound: number;
  createRate: number;
  bindRate: number;
  seconds: number;
  afterCreates: number;
  schedulerCpu: number;
  serverCpu: number;
  allOnAmd64: boolean;
}

/**
 * kube-scheduler's side, on the same API server and the same Nodes: as many Pods as Gantry
 * placed replicas, each selecting `kubernetes.io/arch: amd64` (half the Nodes, as Gantry's
 * x86_64-linux target does), created at the same concurrency as the raw baseline; counted as
 * bound from a watch on spec.nodeName.
 */
export async function schedulePods(
  plane: ControlPlane,
  client: KubeClient,
  o: { nodes: number; total: number; concurrency: number },
): Promise<PodScheduling> {
  const { nodes, total, concurrency } = o;
  const ns = 'bench-pods';
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => {});
  const amd64 = new Set(
    Array.from({ length: nodes }, (_, i) => i)
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
              if (boundTo.size === total) allBound();
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
  const server0 = serverCpu(plane);
  const t0 = performance.now();
  await parallel(total, concurrency, (i) =>
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
    total,
    bound: boundTo.size,
    createRate: total / ((created - t0) / 1000),
    bindRate: boundTo.size / seconds,
    seconds,
    afterCreates: Math.max(0, ((lastBind || created) - created) / 1000),
    schedulerCpu: cpuOf(schedPid) - sched0,
    serverCpu: serverCpu(plane) - server0,
    allOnAmd64: [...boundTo.values()].every((n) => amd64.has(n)),
  };
}
