/**
 * The sandbox's nodes, from a `--nodes` SPEC: comma-separated groups, each `COUNT` (nodes of
 * this host's arch/os) or `ARCH/OS[:COUNT]` in Kubernetes names (`arm64/linux:2`). The default,
 * `3`, is three host nodes. Every node gets the well-known `kubernetes.io/arch|os` labels; a
 * node whose target differs from the host's is *foreign*: its agent runs here and cannot load
 * its binaries, which is the point — it shows placement by target without real hardware.
 *
 *   parseNodeSpec('3,arm64/linux:2') → gantry-node-1..3 (host), gantry-node-4..5 (aarch64-linux)
 */
import { SandboxError } from './errors.js';
import { KUBE_ARCH_TO_PAR, KUBE_OS_TO_PAR } from '../../api/common.js';
import { kubeTime } from '../../runtime/toolkit/time.js';

export interface SandboxNode {
  name: string;
  /** Kubernetes names, as on the node labels. */
  arch: string;
  os: string;
  /** The PAR target, `<arch>-<os>` (e.g. x86_64-linux). */
  target: string;
  /** true when this host cannot load binaries for the node's target. */
  foreign: boolean;
}

/** Node.js process.arch / process.platform → Kubernetes label values. */
const nodeArchToKube: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};
const nodePlatformToKube: Record<string, string> = { linux: 'linux', darwin: 'darwin', win32: 'windows', freebsd: 'freebsd' };

export const DEFAULT_NODE_SPEC = '3';
/** Enough for placement demos; more agents than this only starve a small machine. */
export const MAX_NODES = 16;

export function hostKubeArchOs(arch = process.arch, platform = process.platform): { arch: string; os: string } {
  const a = nodeArchToKube[arch];
  const o = nodePlatformToKube[platform];
  if (!a || !o)
    throw new SandboxError('SANDBOX_BAD_NODE_SPEC', `this host (${arch}/${platform}) has no Kubernetes arch/os name the sandbox knows`);
  return { arch: a, os: o };
}

export function parTarget(arch: string, os: string): string {
  const a = KUBE_ARCH_TO_PAR[arch];
  const o = KUBE_OS_TO_PAR[os];
  if (!a)
    throw new SandboxError(
      'SANDBOX_BAD_NODE_SPEC',
      `unknown node arch "${arch}"; use one of ${Object.keys(KUBE_ARCH_TO_PAR).join(', ')}`,
      'usage',
    );
  if (!o)
    throw new SandboxError(
      'SANDBOX_BAD_NODE_SPEC',
      `unknown node os "${os}"; use one of ${Object.keys(KUBE_OS_TO_PAR).join(', ')}`,
      'usage',
    );
  return `${a}-${o}`;
}

function bad(spec: string, why: string): SandboxError {
  return new SandboxError('SANDBOX_BAD_NODE_SPEC', `--nodes "${spec}": ${why}; expected e.g. "3" or "3,arm64/linux:2"`, 'usage');
}

function parseCount(spec: string, s: string): number {
  if (!/^[0-9]+$/.test(s)) throw bad(spec, `"${s}" is not a node count`);
  const n = Number(s);
  if (n < 1) throw bad(spec, 'a group needs at least one node');
  return n;
}

export function parseNodeSpec(spec: string = DEFAULT_NODE_SPEC, host = hostKubeArchOs()): SandboxNode[] {
  const trimmed = spec.trim();
  if (!trimmed) throw bad(spec, 'empty');
  const hostTarget = parTarget(host.arch, host.os);
  const nodes: SandboxNode[] = [];
  for (const raw of trimmed.split(',')) {
    const group = raw.trim();
    if (!group) throw bad(spec, 'empty group');
    let arch = host.arch;
    let os = host.os;
    let count: number;
    if (/^[0-9]+$/.test(group)) {
      count = parseCount(spec, group);
    } else {
      const m = /^([a-z0-9]+)\/([a-z0-9]+)(?::(.*))?$/.exec(group);
      if (!m) throw bad(spec, `"${group}" is neither COUNT nor ARCH/OS[:COUNT]`);
      arch = m[1];
      os = m[2];
      count = m[3] === undefined ? 1 : parseCount(spec, m[3]);
    }
    let target: string;
    try {
      target = parTarget(arch, os);
    } catch (err) {
      throw bad(spec, (err as Error).message);
    }
    for (let i = 0; i < count; i++) {
      if (nodes.length >= MAX_NODES) throw bad(spec, `more than ${MAX_NODES} nodes`);
      nodes.push({ name: `gantry-node-${nodes.length + 1}`, arch, os, target, foreign: target !== hostTarget });
    }
  }
  if (!nodes.some((n) => !n.foreign)) throw bad(spec, "at least one node must be of this host's arch/os, or nothing can run");
  return nodes;
}

/** The Node object the sandbox registers for a node: labelled and Ready (the agent is the kubelet here). */
export function nodeObject(n: SandboxNode): Record<string, any> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/arch': n.arch,
        'kubernetes.io/os': n.os,
        'kubernetes.io/hostname': n.name,
        'gantry.dev/sandbox': 'true',
      },
    },
    spec: {},
  };
}

export function readyStatus(now = new Date()): Record<string, any> {
  const t = kubeTime(now);
  return {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'SandboxAgentStarted',
        message: 'gantry sandbox node',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
      },
    ],
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
  };
}
