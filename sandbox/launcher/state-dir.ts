/**
 * The sandbox's state directory (default `.sandbox/` in the repository): everything a running
 * sandbox owns and everything a second `up` needs to resume. Layout:
 *
 *   kubeconfig          for kubectl and the controller/agents (rewritten on every `up`)
 *   sandbox.json        ports, registry, nodes and dev key public part — fixed at the first `up`
 *                       so refs in applied Providers (which name the registry's HOST:PORT) stay valid
 *   run.json            the running launcher: pid, start time, children's pids (removed on clean stop)
 *   apiserver/          the API emulator's persisted store
 *   controlplane/       --apiserver real: etcd data, TLS and service-account keys, the
 *                       controller's and agents' ServiceAccount kubeconfigs
 *   nats/  registry/    server configs and storage
 *   keys/               dev signing seeds (account = issuer, service = subject), mode 0600
 *   cache/<node>/       each agent's archive cache
 *   logs/<part>.log     one log per process
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SandboxError } from './errors.js';
import type { SandboxNode } from './node-spec.js';

export type RegistryKind = 'docker' | 'oci-layout';

/** What the first `up` decided; a resume reuses it as is. */
export interface SandboxState {
  version: 1;
  createdAt: string;
  nodes: SandboxNode[];
  registry: { kind: RegistryKind /** HOST:PORT for docker, `oci-layout:DIR` for a layout */; location: string; port?: number };
  apiserverPort: number;
  /** `emulated` (absent in state dirs made before the choice existed) or `real` (kube-apiserver + etcd). */
  apiserver?: 'emulated' | 'real';
  /** etcd's client and peer ports (real API server only). */
  etcdPort?: number;
  etcdPeerPort?: number;
  natsPort: number;
  /** A NATS cluster (`--nats-servers N`): the client ports of servers 2..N, and the route ports of all N. */
  natsExtraPorts?: number[];
  natsRoutePorts?: number[];
  controllerMetricsPort: number;
  /** `--controllers N` (N > 1): the metrics ports of controllers 2..N, standbys under leader election. */
  extraControllerMetricsPorts?: number[];
  /** Each node's agent's /metrics port, by node name (absent in state dirs made before agents served metrics: chosen on the next up). */
  agentMetricsPorts?: Record<string, number>;
  /** The dev account's public key: the trusted issuer of the example archives. */
  issuer?: string;
}

export interface RunRecord {
  pid: number;
  startedAt: string;
  apiserverUrl: string;
  /** The NATS server URL, or the members' URLs comma-separated (a cluster). */
  natsUrl: string;
  /** The sandbox's admin .creds file (the membrane), which `gantry call` uses by default. */
  natsCreds?: string;
  /** The bus CA's certificate the sandbox's NATS servers are signed by (clients verify them with it). */
  natsCa?: string;
  registry: string;
  children: { name: string; pid: number }[];
}

export class StateDir {
  readonly root: string;
  constructor(dir: string) {
    this.root = resolve(dir);
  }
  get kubeconfig(): string {
    return join(this.root, 'kubeconfig');
  }
  get stateFile(): string {
    return join(this.root, 'sandbox.json');
  }
  get runFile(): string {
    return join(this.root, 'run.json');
  }
  get apiserverDir(): string {
    return join(this.root, 'apiserver');
  }
  get natsDir(): string {
    return join(this.root, 'nats');
  }
  get registryDir(): string {
    return join(this.root, 'registry');
  }
  get keysDir(): string {
    return join(this.root, 'keys');
  }
  /** The membrane's seeds (0600 files in a 0700 dir) and the sandbox's admin .creds. */
  get membraneDir(): string {
    return join(this.root, 'membrane');
  }
  get adminCreds(): string {
    return join(this.membraneDir, 'admin.creds');
  }
  /** The bus CA (ca.crt; ca.key 0600, never given to a child), which signs the NATS servers' certificate. */
  get busCaDir(): string {
    return join(this.root, 'bus-ca');
  }
  /** The certificate every NATS client of the sandbox verifies the servers with. */
  get natsCa(): string {
    return join(this.busCaDir, 'ca.crt');
  }
  get logsDir(): string {
    return join(this.root, 'logs');
  }
  cacheDir(node: string): string {
    return join(this.root, 'cache', node);
  }
  /** The node's host keeper socket (in a 0700 directory the keeper makes; kept short: a Unix socket path has ~107 bytes). */
  keeperSocket(node: string): string {
    return join(this.root, 'k', `${node}.sock`);
  }
  /** Where the node's host keeper records its hosts' pids (agent/host-records.ts). */
  keeperRecords(node: string): string {
    return join(this.cacheDir(node), 'keeper-hosts');
  }
  log(part: string): string {
    return join(this.logsDir, `${part}.log`);
  }

  ensure(): void {
    for (const d of [this.root, this.apiserverDir, this.natsDir, this.registryDir, this.logsDir, join(this.root, 'cache')])
      mkdirSync(d, { recursive: true });
    mkdirSync(this.keysDir, { recursive: true, mode: 0o700 });
  }

  readState(): SandboxState | undefined {
    if (!existsSync(this.stateFile)) return undefined;
    let s: SandboxState;
    try {
      s = JSON.parse(readFileSync(this.stateFile, 'utf8'));
    } catch (err) {
      throw new SandboxError(
        'SANDBOX_STATE_INVALID',
        `${this.stateFile} is not valid JSON (${(err as Error).message}); remove the state dir to start afresh`,
      );
    }
    if (
      s?.version !== 1 ||
      !Array.isArray(s.nodes) ||
      !s.registry?.kind ||
      !Number.isInteger(s.apiserverPort) ||
      !Number.isInteger(s.natsPort)
    ) {
      throw new SandboxError(
        'SANDBOX_STATE_INVALID',
        `${this.stateFile} is not a sandbox state this version understands; remove the state dir to start afresh`,
      );
    }
    return s;
  }

  writeState(s: SandboxState): void {
    writeAtomic(this.stateFile, JSON.stringify(s, null, 2) + '\n');
  }

  /** The running launcher, if its pid is still alive; a record left by a crash is cleared. */
  readRun(): RunRecord | undefined {
    if (!existsSync(this.runFile)) return undefined;
    let r: RunRecord;
    try {
      r = JSON.parse(readFileSync(this.runFile, 'utf8'));
    } catch {
      rmSync(this.runFile, { force: true });
      return undefined;
    }
    if (!Number.isInteger(r?.pid) || !isAlive(r.pid)) {
      rmSync(this.runFile, { force: true });
      return undefined;
    }
    return r;
  }

  /** Claim the state dir for this process; refuses when another launcher is running on it. */
  claim(record: RunRecord): void {
    const other = this.readRun();
    if (other && other.pid !== record.pid) {
      throw new SandboxError(
        'SANDBOX_ALREADY_RUNNING',
        `a sandbox is already running on ${this.root} (pid ${other.pid}); stop it with \`gantry sandbox down --state-dir ${this.root}\``,
      );
    }
    writeAtomic(this.runFile, JSON.stringify(record, null, 2) + '\n');
  }

  updateRun(record: RunRecord): void {
    writeAtomic(this.runFile, JSON.stringify(record, null, 2) + '\n');
  }

  release(pid = process.pid): void {
    const r = this.readRun();
    if (!r || r.pid === pid) rmSync(this.runFile, { force: true });
  }
}

/** Whether a process runs. A zombie (exited, not yet reaped by its parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Linux: field 3 of /proc/<pid>/stat is the state; Z = zombie
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) is all we know
  }
}

/** Whether a process's command line contains `text` (Linux /proc); false when unknown. */
export function commandLineMentions(pid: number, text: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
  } catch {
    return false; // no /proc: leave it alone rather than guess
  }
}

/** Write-then-rename, so a reader never sees half a file. */
export function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}
