/**
 * The real cluster for test/cluster: `scripts/cluster.sh up` (kubelet + containerd + runc per
 * node, each node in a network namespace of its own) with Gantry installed on it by
 * `scripts/cluster/gantry.sh up`, and helpers that read it through the release's kubectl.
 * `clusterBlocker()` names what this machine lacks, so the suite can skip with that reason.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const repo = join(import.meta.dirname, '..', '..');
const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
const images = ['pause', 'coredns', 'nats', 'gantry'];
// where scripts/images.sh keeps them (and cluster.sh imports them from)
const imageCache = process.env.GANTRY_IMAGE_CACHE ?? join(cache, 'gantry', 'images');

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, bin)));
}

function builtBin(dir: string, bin: string): string | undefined {
  const root = join(cache, 'gantry', dir);
  if (!existsSync(root)) return undefined;
  for (const d of readdirSync(root)) if (existsSync(join(root, d, 'bin', bin))) return join(root, d, 'bin', bin);
  return undefined;
}

/** Why the cluster cannot run here, or undefined when it can. */
export function clusterBlocker(): string | undefined {
  if (process.getuid?.() !== 0) return 'the cluster needs root (network namespaces, cgroups, mounts)';
  for (const b of ['containerd', 'runc', 'ctr', 'nsenter'])
    if (!onPath(b) && !existsSync(`/usr/sbin/${b}`)) return `${b} is not installed (scripts/setup.sh)`;
  if (!existsSync(join(repo, 'scripts', 'cluster.sh'))) return 'scripts/cluster.sh is missing';
  if (!builtBin('control-plane', 'kubectl')) return 'the control plane is not built (scripts/control-plane.sh)';
  if (!builtBin('cluster-parts', 'kubelet')) return 'the kubelet is not built (scripts/cluster-parts.sh)';
  for (const i of images) if (!existsSync(join(imageCache, `${i}.tar`))) return `the ${i} image is not built (scripts/images.sh ${i})`;
  return undefined;
}

export interface Result {
  code: number;
  out: string;
  err: string;
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout: number): Promise<Result> {
  try {
    const r = await exec(cmd, args, { cwd: repo, env, timeout, maxBuffer: 64 << 20 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr || (e.message ?? '') };
  }
}

/** One cluster, by its GANTRY_CLUSTER_ID; state in the repository's .cluster/. */
export class Cluster {
  readonly state = join(repo, '.cluster');
  readonly gantryDir = join(this.state, 'gantry');
  private readonly env: NodeJS.ProcessEnv;
  private readonly kubectlBin = builtBin('control-plane', 'kubectl') ?? 'kubectl';
  private forwards: ChildProcess[] = [];

  constructor(readonly id: number) {
    this.env = { ...process.env, GANTRY_CLUSTER_ID: String(id), KUBECONFIG: join(this.state, 'kubeconfig') };
  }

  script(args: string[], timeoutMs: number): Promise<Result> {
    return run(join(repo, 'scripts', 'cluster.sh'), args, this.env, timeoutMs);
  }

  gantrySh(args: string[], timeoutMs = 60_000): Promise<Result> {
    return run(join(repo, 'scripts', 'cluster', 'gantry.sh'), args, this.env, timeoutMs);
  }

  kubectl(args: string[], timeoutMs = 60_000): Promise<Result> {
    return run(this.kubectlBin, args, this.env, timeoutMs);
  }

  /** kubectl that must succeed; its stdout. */
  async k(...args: string[]): Promise<string> {
    const r = await this.kubectl(args, 240_000);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.err}`);
    return r.out;
  }

  async json<T = any>(...args: string[]): Promise<T> {
    return JSON.parse(await this.k(...args, '-o', 'json')) as T;
  }

  /** The signing keys gantry.sh made (par create), and the registry it runs. */
  get keys() {
    return { account: join(this.gantryDir, 'keys', 'account.nk'), service: join(this.gantryDir, 'keys', 'service.nk') };
  }
  get registry(): string {
    return `172.31.${this.id}.1:5000`;
  }

  /**
   * Port-forwards to the three NATS pods on loopback (the servers' certificate names
   * 127.0.0.1): the tls:// URLs, comma-separated. Stopped by stopForwards().
   */
  async forwardNats(): Promise<string> {
    const urls: string[] = [];
    for (const i of [0, 1, 2]) {
      const p = spawn(this.kubectlBin, ['-n', 'gantry-system', 'port-forward', `pod/gantry-nats-${i}`, ':4222', '--address', '127.0.0.1'], {
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.forwards.push(p);
      urls.push(
        await new Promise<string>((resolve, reject) => {
          let text = '';
          p.stdout?.on('data', (d: Buffer) => {
            text += d.toString();
            const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(text);
            if (m) resolve(`tls://127.0.0.1:${m[1]}`);
          });
          p.stderr?.on('data', (d: Buffer) => (text += d.toString()));
          p.on('exit', (code) => reject(new Error(`port-forward to gantry-nats-${i} exited ${code}: ${text}`)));
        }),
      );
    }
    return urls.join(',');
  }

  stopForwards(): void {
    for (const p of this.forwards) p.kill();
    this.forwards = [];
  }

  /** `gantry call` as an operator, with admin.creds and the bus CA gantry.sh made. */
  call(nats: string, provider: string, op: string, data: string, extra: string[] = []): Promise<Result> {
    const m = join(this.gantryDir, 'membrane');
    return run(
      join(repo, 'scripts', 'node.sh'),
      [
        'exec',
        'node',
        join(repo, 'bin', 'gantry.js'),
        'call',
        provider,
        op,
        '--data',
        data,
        '--nats',
        nats,
        '--creds',
        join(m, 'admin.creds'),
        '--nats-ca',
        join(m, 'ca', 'ca.crt'),
        ...extra,
      ],
      this.env,
      30_000,
    );
  }

  /**
   * Signs the example provider `lib` (providers/build/<lib>.so) for `target` with gantry.sh's
   * keys and pushes it to the cluster's registry as examples/<repo>; the archive's reference.
   */
  async publish(
    lib: string,
    capid: string,
    repo_: string,
    target = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux`,
  ): Promise<string> {
    const par = join(this.gantryDir, `${repo_}.par`);
    const ref = `${this.registry}/examples/${repo_}`;
    const made = await this.gantry(
      ['par', 'create', '--name', lib, '--vendor', 'gantry.dev', '--capid', capid, '--version', '0.1.0', '--revision', '1'].concat(
        [
          '--issuer',
          this.keys.account,
          '--subject',
          this.keys.service,
          '--binary',
          `${target}=${join(repo, 'providers', 'build', `${lib}.so`)}`,
        ],
        ['--out', par],
      ),
    );
    if (made.code !== 0) throw new Error(`gantry par create ${lib} failed: ${made.err}`);
    const pushed = await this.gantry(['par', 'push', par, ref, '--plain-http']);
    if (pushed.code !== 0) throw new Error(`gantry par push ${ref} failed: ${pushed.err}`);
    return ref;
  }

  gantry(args: string[], timeoutMs = 60_000): Promise<Result> {
    return run(join(repo, 'scripts', 'node.sh'), ['exec', 'node', join(repo, 'bin', 'gantry.js'), ...args], this.env, timeoutMs);
  }

  /**
   * The provider hosts of `provider` (in `namespace`) running now, read from this machine: each
   * host is in a child of the cluster's delegated memory cgroup named
   * `<node prefix><namespace>_<instance>_<pid in its pod>` (agent/host/memory-cgroup.ts), whose
   * cgroup.procs lists its host pid. instance → "pid@start time" (/proc/PID/stat field 22), so a
   * reused pid is not taken for the same process. Whichever pod runs the hosts (the agent's in
   * v0.1.0, the host keeper's since), they are in that directory.
   */
  hostProcesses(provider: string, namespace = 'default'): Map<string, string> {
    const dir = `/sys/fs/cgroup/memory/gantry${this.id}-hosts`;
    const out = new Map<string, string>();
    const name = new RegExp(`${namespace}_(${provider}-[a-z0-9]+)_\\d+$`);
    for (const d of existsSync(dir) ? readdirSync(dir) : []) {
      const m = name.exec(d);
      if (!m) continue;
      let procs: string[];
      try {
        procs = readFileSync(join(dir, d, 'cgroup.procs'), 'utf8')
          .split('\n')
          .filter(Boolean);
      } catch {
        continue; // removed between the listing and the read: that host just stopped
      }
      for (const pid of procs) {
        try {
          // the fields after the command's closing parenthesis: state is field 3, starttime 22
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
          const prev = out.get(m[1]);
          out.set(m[1], prev ? `${prev},${pid}@${start}` : `${pid}@${start}`);
        } catch {
          // exited since the listing
        }
      }
    }
    return out;
  }

  /** The tail of a log under .cluster/logs, for a failure message. */
  log(name: string, lines = 30): string {
    const f = join(this.state, 'logs', name);
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n') : `(no ${f})`;
  }
}

/**
 * Wait for a condition the cluster reaches on its own (a pod recreated, an instance moved),
 * reading its state every `everyMs` until `timeoutMs`: the last reading goes in the error.
 */
export async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
