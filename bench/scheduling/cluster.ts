/**
 * The scheduling bench's cluster and the measuring helpers its phases share: nodes with their
 * agent Leases, the signed archive in an OCI image-layout directory, bounded parallelism, and
 * the CPU a process has used (from /proc).
 */
import { readFileSync } from 'node:fs';
import { agentLeaseName, providerCrd, providerInstanceCrd } from '../../api/index.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { ControlPlane } from '../../sandbox/controlplane/index.js';

/** `fn(0)` … `fn(n - 1)`, at most `limit` at a time. */
export async function parallel(n: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** CPU seconds a process has used so far (utime + stime from /proc). */
export const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

/** CPU seconds of the real API server and etcd (0 on the emulator, which runs in this process). */
export function serverCpu(cp: ControlPlane | undefined): number {
  return cp
    ? Object.entries(cp.pids())
        .filter(([n]) => n !== 'kube-scheduler')
        .reduce((a, [, pid]) => a + cpuOf(pid), 0)
    : 0;
}

/** The CRDs and namespaces, and the signed archive (two targets) pushed to an image layout in `layoutDir`. */
export async function setUpCluster(
  client: KubeClient,
  layoutDir: string,
): Promise<{ ref: string; digest: string /** the issuer's public key */; issuer: string }> {
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
  return { ref, digest: pushed.digest, issuer: publicKeyFromSeed(issuer) };
}

/** `nodes` Ready Nodes (half amd64, half arm64) with capacity and a live agent Lease each. */
export async function createNodes(client: KubeClient, nodes: number): Promise<void> {
  const renewTime = new Date().toISOString().replace('Z', '000Z');
  await parallel(nodes, 32, async (i) => {
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
}
