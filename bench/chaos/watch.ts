/**
 * What the chaos run watches all along: whether every Provider is Ready, and the duplicate
 * checks — two live instances of one Provider on a node (API), more provider host processes on
 * a node than instances bound to it (processes) — plus who holds the controllers' leader Lease.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_HOST_POOL_SIZE } from '../../agent/host/pool.js';
import { HOST_RECORDS_ENV } from '../../agent/host-records.js';
import { type KubeClient, resourcePath } from '../../runtime/kube.js';
import { processesMarked } from '../../runtime/marked-processes.js';
import { GANTRY_NAMESPACE } from '../../sandbox/launcher/cluster-objects.js';
import type { Sandbox } from '../../sandbox/launcher/sandbox.js';
import { NS, PROVIDERS } from './scenario.js';

interface Observed {
  allReady: boolean;
  at: number;
}

/** Polls the cluster: Provider readiness, and the duplicate checks (API and processes). */
export class Watcher {
  last: Observed = { allReady: false, at: 0 };
  readonly findings: string[] = [];
  duplicates = 0;
  private seen = new Set<string>();
  private suspect = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private kube: KubeClient,
    private sb: Sandbox,
    private now: () => number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.poll()
        .catch(() => {})
        .finally(() => {
          this.busy = false;
        });
    }, 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async providers(): Promise<any[]> {
    return (await this.kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS }))).items;
  }

  async instances(): Promise<any[]> {
    return (await this.kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS })))
      .items;
  }

  private finding(key: string, text: string): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.duplicates++;
    this.findings.push(`${(this.now() / 1000).toFixed(1)} s: ${text}`);
  }

  private async poll(): Promise<void> {
    const [providers, instances] = await Promise.all([this.providers(), this.instances()]);
    const at = this.now();
    const ready =
      providers.length === PROVIDERS.length &&
      providers.every(
        (p) =>
          (p.status?.readyReplicas ?? 0) === p.spec.replicas &&
          p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
      );
    this.last = { allReady: ready, at };
    // two live instances of one Provider on one node
    const live = instances.filter((i) => !i.metadata.deletionTimestamp && i.status?.phase !== 'Terminating');
    const perNode = new Map<string, string[]>();
    for (const i of live) {
      const k = `${i.metadata.labels?.['gantry.dev/provider']}@${i.spec.nodeName}`;
      perNode.set(k, [...(perNode.get(k) ?? []), i.metadata.name]);
    }
    for (const [k, names] of perNode)
      if (names.length > 1)
        this.finding(`api:${names.sort().join(',')}`, `two live instances of ${k.replace('@', ' on ')}: ${names.join(', ')}`);
    // more host processes serving instances on a node than instances bound to it, or more idle
    // ones than the agent's pool keeps, three polls in a row (a host being replaced is briefly
    // counted with its successor only if the old one outlives a poll)
    for (const node of this.sb.nodes) {
      const { serving, idle } = hostsOn(this.sb.stateDir, node.name);
      const bound = instances.filter((i) => i.spec.nodeName === node.name && !i.metadata.deletionTimestamp).length;
      const key = node.name;
      if (serving.length > bound || idle.length > DEFAULT_HOST_POOL_SIZE) {
        const n = (this.suspect.get(key) ?? 0) + 1;
        this.suspect.set(key, n);
        if (n >= 3)
          this.finding(
            `proc:${node.name}:${Math.floor(at / 10_000)}`,
            `${serving.length} provider host processes serving on ${node.name} for ${bound} instances bound to it, ${idle.length} idle (pool keeps ${DEFAULT_HOST_POOL_SIZE})`,
          );
      } else this.suspect.delete(key);
    }
  }

  /** Host processes serving an instance on each node right now (idle pooled ones not counted). */
  hostCounts(): number[] {
    return this.sb.nodes.map((n) => hostsOn(this.sb.stateDir, n.name).serving.length);
  }
}

/**
 * The provider host processes on a node (those carrying a records marker: the host keeper's, or
 * an agent's own when it runs without one), split into those recorded for an instance
 * (agent/host-records.ts) and the rest: idle hosts in a pool (agent/host/pool.ts), or strays.
 * The record files are only read: their keeper or agent owns them.
 */
export function hostsOn(stateDir: string, node: string): { serving: number[]; idle: number[] } {
  const out = { serving: [] as number[], idle: [] as number[] };
  for (const sub of ['keeper-hosts', 'hosts']) {
    const dir = join(stateDir, 'cache', node, sub);
    const recorded = new Set<number>();
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch {
      // no host started yet
    }
    for (const f of files) {
      try {
        const pid = JSON.parse(readFileSync(join(dir, f), 'utf8')).pid;
        if (typeof pid === 'number') recorded.add(pid);
      } catch {
        // removed or being replaced (the writer writes temp + rename)
      }
    }
    const pids = processesMarked(HOST_RECORDS_ENV, dir);
    out.serving.push(...pids.filter((p) => recorded.has(p)));
    out.idle.push(...pids.filter((p) => !recorded.has(p)));
  }
  return out;
}

export async function leaseHolder(kube: KubeClient): Promise<{ holder?: string; renew: number }> {
  try {
    const l = await kube.get(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        plural: 'leases',
        namespace: GANTRY_NAMESPACE,
        name: 'gantry-controller',
      }),
    );
    return { holder: l?.spec?.holderIdentity, renew: Date.parse(l?.spec?.renewTime ?? '') };
  } catch {
    return { renew: NaN };
  }
}
