/**
 * The scheduling bench's baseline: the same number of ProviderInstances the controller would
 * create, created directly by a client in its own process (like the controller, so both phases
 * split client and server work the same way), owned by Providers with no replicas.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KubeClient, loadKubeConfig } from '../../runtime/kube.js';
import { parallel } from './cluster.js';

export interface RawJob {
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

export async function rawCreates(job: RawJob): Promise<{ seconds: number; cpuSeconds: number }> {
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

/** Providers with no replicas in bench-raw, so the controller leaves them be: the owners of the baseline's instances. */
export async function createRawOwners(client: KubeClient, providers: number, ref: string): Promise<string[]> {
  const owners: string[] = [];
  for (let i = 0; i < providers; i++)
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
  return owners;
}

/** Runs rawCreates in a child process: `script --raw-child JOB`. */
export function runRaw(script: string, job: RawJob): Promise<{ seconds: number; cpuSeconds: number }> {
  return new Promise<{ seconds: number; cpuSeconds: number }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(process.env.BENCH_CPU_PROF, 'raw')] : []),
        script,
        '--raw-child',
        JSON.stringify(job),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`raw-create child exited ${code}`))));
  });
}
