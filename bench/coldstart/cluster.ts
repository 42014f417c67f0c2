/**
 * What the cold-start bench's extra measurements (density, heal) share: the cluster they run
 * against, the echo archive they publish, and `gantry` commands run as their own processes.
 */
import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { join } from 'node:path';

export const NS = 'default';

/** The bench's API server, NATS and registry, and what it signs and runs. */
export interface BenchCluster {
  kubeConfigYaml: string;
  natsPort: number;
  /** HOST:PORT of the plain-HTTP registry */
  registry: string;
  issuerSeed: string;
  target: string;
  echo: Buffer;
}

/** The echo provider signed as Provider `name` and pushed to `<registry>/bench/<name>`. */
export async function publishEcho(o: BenchCluster, name: string): Promise<{ ref: string; digest: string }> {
  const bytes = await createPar({
    binaries: { [o.target]: o.echo },
    issuerSeed: o.issuerSeed,
    subjectSeed: generateSeed('service'),
    name,
    vendor: 'bench',
    capid: 'gantry:echo',
    version: '1.0.0',
    revision: 1,
  });
  const ref = `${o.registry}/bench/${name}`;
  const { digest } = await openArchiveStore(ref, { plainHttpRegistries: [o.registry] }).push(bytes);
  return { ref, digest };
}

/** `gantry agent` arguments for `node` against the bench's cluster, trusting its issuer. */
export function agentArgs(o: BenchCluster, kubeconfig: string, node: string, cacheDir: string): string[] {
  return [
    'agent',
    '--kubeconfig',
    kubeconfig,
    '--node',
    node,
    '--nats',
    `nats://127.0.0.1:${o.natsPort}`,
    '--cache-dir',
    cacheDir,
    '--trust-issuer',
    publicKeyFromSeed(o.issuerSeed),
    '--plain-http-registry',
    o.registry,
  ];
}

/** A `gantry` command as its own process (agent or controller), killed on cleanup. */
export function gantry(args: string[], stdio: StdioOptions = ['ignore', 'ignore', 'ignore']): ChildProcess {
  return spawn(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), ...args], {
    stdio,
    env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' },
  });
}

export async function killed(p: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill(sig);
  await done;
}
