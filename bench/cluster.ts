/**
 * Gantry on a real cluster (scripts/cluster.sh: kubelet + containerd + runc, 3 nodes), the
 * operator's timings side by side in one run:
 *   - `kubectl apply -k deploy/overlays/cluster` → every Gantry pod Ready (2 controllers,
 *     3 NATS servers, an agent per node), as scripts/cluster/gantry.sh up times its steps;
 *   - the example Provider applied → Ready (archive pulled, verified, host started);
 *   - an agent pod killed → its node's instance Running again under a new host.
 * The cluster is made for the run (`--no-gantry`, then gantry.sh up) and taken down at the end.
 *
 * Run (root, with the cluster's parts and images built): npm run build &&
 *   GANTRY_CLUSTER_ID=8 node dist/bench/cluster.js [--rounds N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../runtime/paths.js';
import { median } from './timing.js';

const repo = packageRoot();
const id = process.env.GANTRY_CLUSTER_ID ?? '8';
const env = { ...process.env, GANTRY_CLUSTER_ID: id, KUBECONFIG: join(repo, '.cluster', 'kubeconfig') };
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 0) || 3;

/** Runs a command to its end; its stdout, or with `both` its stdout and stderr (the scripts' step lines). */
function sh(cmd: string, args: string[], both = false): string {
  const r = spawnSync(cmd, args, { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${(r.stderr ?? '').slice(-3000)}`);
  return both ? `${r.stdout}${r.stderr}` : r.stdout;
}
const kubectl = (...args: string[]) => sh(join(repo, 'scripts', 'cluster.sh'), ['kubectl', ...args]);
const json = (...args: string[]) => JSON.parse(kubectl(...args, '-o', 'json'));

/** gantry.sh's own step line: "gantry.sh: STEP: 12.3 s". */
function stepSeconds(log: string, step: string): number {
  const m = new RegExp(`gantry\\.sh: ${step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ([0-9.]+) s`).exec(log);
  if (!m) throw new Error(`gantry.sh printed no time for "${step}":\n${log.slice(-2000)}`);
  return Number(m[1]);
}

async function waitFor<T>(what: string, read: () => T, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Kill the agent pod on echo's node; seconds until the new agent has that instance Running again (a new startedAt). */
async function agentKilled(): Promise<number> {
  const inst = json('get', 'providerinstances', '-n', 'default', '-l', 'gantry.dev/provider=echo').items[0];
  const node = inst.spec.nodeName;
  const pod = json(
    'get',
    'pods',
    '-n',
    'gantry-system',
    '-l',
    'app.kubernetes.io/name=gantry-agent',
    '--field-selector',
    `spec.nodeName=${node}`,
  ).items[0];
  const t = performance.now();
  kubectl('delete', 'pod', '-n', 'gantry-system', pod.metadata.name, '--wait=false', '--grace-period=0', '--force');
  await waitFor(
    'echo Running again under the new agent',
    () => json('get', 'providerinstances', '-n', 'default', '-l', 'gantry.dev/provider=echo').items,
    (is: any[]) => is.length === 1 && is[0].status?.phase === 'Running' && is[0].status?.startedAt !== inst.status?.startedAt,
    180_000,
  );
  return (performance.now() - t) / 1000;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench/cluster needs root (scripts/cluster.sh)');
  const t0 = performance.now();
  sh(join(repo, 'scripts', 'cluster.sh'), ['up', '--nodes', '3', '--no-gantry']);
  const clusterUp = (performance.now() - t0) / 1000;
  try {
    const log = sh(join(repo, 'scripts', 'cluster', 'gantry.sh'), ['up'], true);
    const apply = stepSeconds(log, 'kubectl apply -k deploy/overlays/cluster') + stepSeconds(log, 'every Gantry pod Ready');
    const provider = stepSeconds(log, 'Provider echo Ready');
    const kills: number[] = [];
    for (let i = 0; i < rounds; i++) kills.push(await agentKilled());
    const cores = execFileSync('nproc', { encoding: 'utf8' }).trim();
    console.log(`real cluster, 3 nodes, ${cores} cores (cluster.sh up --no-gantry: ${clusterUp.toFixed(1)} s)`);
    console.log(`${apply.toFixed(1).padStart(7)} s  kubectl apply -k deploy/overlays/cluster → every Gantry pod Ready`);
    console.log(`${provider.toFixed(1).padStart(7)} s  Provider echo applied → Ready`);
    console.log(
      `${median(kills).toFixed(1).padStart(7)} s  agent pod killed → its instance Running again (median of ${rounds}: ${kills.map((k) => k.toFixed(1)).join(', ')})`,
    );
  } finally {
    sh(join(repo, 'scripts', 'cluster', 'gantry.sh'), ['down']);
    sh(join(repo, 'scripts', 'cluster.sh'), ['down']);
  }
}

main().catch((err) => {
  console.error(`bench/cluster: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
