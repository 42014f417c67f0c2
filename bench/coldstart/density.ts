/**
 * Density: N idle echo instances on one `gantry agent` process, and the memory of the agent
 * and every process under it (RSS and PSS, from /proc).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { agentArgs, type BenchCluster, gantry, killed, NS, publishEcho } from './cluster.js';

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
export async function measureDensity(n: number, o: BenchCluster): Promise<string> {
  if (n <= 0) return 'density: skipped (--density 0)';
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-density-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, o.kubeConfigYaml);
  const kube = new KubeClient(loadKubeConfig({ kubeconfigYaml: o.kubeConfigYaml }));
  const { ref, digest } = await publishEcho(o, 'dense');
  const node = 'dense-node';
  const agent = gantry(agentArgs(o, kubeconfig, node, join(dir, 'cache')), ['ignore', 'ignore', 'inherit']);
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
    return densityReport(n, allMs, agent.pid!);
  } finally {
    await killed(agent, 'SIGTERM');
    for (let i = 0; i < n; i++) await kube.delete(`${instances}/dense-${i}`).catch(() => {});
    kube.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The agent's and its hosts' memory, once the instances are idle. */
function densityReport(n: number, allMs: number, agentPid: number): string {
  const a = memoryOf(agentPid);
  const kids = childrenOf(agentPid);
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
}
