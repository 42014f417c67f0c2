/**
 * Where the real control plane's binaries are: built by scripts/control-plane.sh into a cache
 * outside the repo, keyed by the versions pinned in scripts/control-plane.versions. The same
 * path rule lives in that script; `GANTRY_CONTROL_PLANE_BIN` names another directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlaneError } from './errors.js';

export const CONTROL_PLANE_BINARIES = ['etcd', 'kube-apiserver', 'kube-scheduler', 'kubectl'] as const;
export type ControlPlaneBinary = (typeof CONTROL_PLANE_BINARIES)[number];

export interface ControlPlaneVersions {
  k8s: string;
  etcd: string;
  recipe: string;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('gantry: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export function controlPlaneVersions(): ControlPlaneVersions {
  const text = readFileSync(join(packageRoot(), 'scripts', 'control-plane.versions'), 'utf8');
  const v = (k: string) => {
    const m = new RegExp(`^${k}=(\\S+)`, 'm').exec(text);
    if (!m) throw new Error(`scripts/control-plane.versions has no ${k}=`);
    return m[1];
  };
  return { k8s: v('K8S_VERSION'), etcd: v('ETCD_VERSION'), recipe: v('RECIPE') };
}

/** The directory the binaries are (or would be) in. */
export function controlPlaneBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GANTRY_CONTROL_PLANE_BIN) return env.GANTRY_CONTROL_PLANE_BIN;
  const v = controlPlaneVersions();
  const root = env.GANTRY_CONTROL_PLANE_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gantry', 'control-plane');
  return join(root, `k8s-v${v.k8s}-etcd-v${v.etcd}-r${v.recipe}`, 'bin');
}

/** Whether every binary is there (the build script writes .complete last). */
export function controlPlaneAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = controlPlaneBinDir(env);
  return (
    (env.GANTRY_CONTROL_PLANE_BIN !== undefined || existsSync(join(dir, '.complete'))) &&
    CONTROL_PLANE_BINARIES.every((b) => existsSync(join(dir, b)))
  );
}

export function controlPlaneBinary(name: ControlPlaneBinary, env: NodeJS.ProcessEnv = process.env): string {
  const p = join(controlPlaneBinDir(env), name);
  if (!existsSync(p)) {
    throw new ControlPlaneError(
      'CONTROL_PLANE_NOT_BUILT',
      `${name} not found in ${dirname(p)}: build the real control plane with scripts/control-plane.sh (scripts/setup.sh runs it), or use the emulator`,
    );
  }
  return p;
}

/**
 * kube-controller-manager is not part of the control plane's build: scripts/cluster-parts.sh
 * builds it (with the kubelet) into its own cache, keyed by the same Kubernetes version and its
 * own recipe number; `GANTRY_CLUSTER_PARTS_BIN` names another directory.
 */
export function clusterPartsBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GANTRY_CLUSTER_PARTS_BIN) return env.GANTRY_CLUSTER_PARTS_BIN;
  const recipe = /^PARTS_RECIPE=(\S+)/m.exec(readFileSync(join(packageRoot(), 'scripts', 'cluster-parts.sh'), 'utf8'))?.[1];
  if (!recipe) throw new Error('scripts/cluster-parts.sh has no PARTS_RECIPE=');
  const root = env.GANTRY_CLUSTER_PARTS_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gantry', 'cluster-parts');
  return join(root, `k8s-v${controlPlaneVersions().k8s}-r${recipe}`, 'bin');
}

/** Whether kube-controller-manager is built (the HPA path's real tests need it). */
export function controllerManagerAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return existsSync(join(clusterPartsBinDir(env), 'kube-controller-manager'));
}

export function controllerManagerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const p = join(clusterPartsBinDir(env), 'kube-controller-manager');
  if (!existsSync(p))
    throw new ControlPlaneError(
      'CONTROL_PLANE_NOT_BUILT',
      `kube-controller-manager not found in ${dirname(p)}: build it with scripts/cluster-parts.sh`,
    );
  return p;
}
