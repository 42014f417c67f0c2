/**
 * A Helm release of deploy/helm/gantry on its own API server, for test/deploy/helm-install and
 * helm-adopt: helm state in its own home, kubectl of the control plane's release, and what is
 * left of Gantry after an uninstall.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { apiGround, realKubectl, startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { helm, helmMissing } from '../support/helm.js';
import { helmHome } from './helm-render.js';
import type { Manifest } from './schema.js';

export const NAMESPACES = ['gantry-system', 'gantry-membrane', 'gantry-nodes'];
export const CRDS = ['capabilitygrants.gantry.dev', 'providerinstances.gantry.dev', 'providers.gantry.dev'];
export const ground = apiGround();
/** Why helm install cannot run on this ground, or undefined. */
export const installSkip =
  helmMissing() ??
  (ground === 'emulated'
    ? // helm maps every object to a served API before creating any, and the emulator serves neither
      // NetworkPolicy nor the admission policies (docs/apiserver.md): helm install fails whole with
      // 'resource mapping not found for name: "gantry-nats-routes" … no matches for kind
      // "NetworkPolicy" in version "networking.k8s.io/v1"'
      'the API emulator serves no networking.k8s.io/v1 NetworkPolicy and no admissionregistration.k8s.io, so helm install fails (resource mapping not found): runs on the real API server (vitest project real)'
    : undefined);
const run = promisify(execFile);

export type Kubectl = (args: string[]) => Promise<string>;

/** A release on its own API server, helm state in its own home. */
export async function setUp(): Promise<{ api: TestApiServer; home: string; kubectl: Kubectl }> {
  // helm creates the namespaces and RBAC itself: none applied beforehand
  const api = await startTestApiServer({ noDeployRbac: true });
  const home = helmHome();
  const kubectl = async (args: string[]) =>
    (await run(realKubectl(), ['--kubeconfig', api.kubeconfigPath, ...args], { maxBuffer: 64 << 20 })).stdout;
  return { api, home, kubectl };
}

export async function helmOk(home: string, api: TestApiServer, args: string[]): Promise<string> {
  const r = await helm([...args, '--kubeconfig', api.kubeconfigPath], home);
  expect(r.code, `helm ${args.join(' ')}: ${r.err}`).toBe(0);
  return r.out;
}

/** The objects of `rendered` that exist on the server, keyed as the chart's. */
export async function existing(kubectl: (args: string[]) => Promise<string>, home: string, rendered: Manifest[]): Promise<Manifest[]> {
  const file = join(home, 'rendered.json');
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rendered }));
  const out = JSON.parse(await kubectl(['get', '-f', file, '-o', 'json', '--ignore-not-found'])) as { items: Manifest[] };
  return out.items;
}

/** Everything listable in Gantry's namespaces, and every cluster-scoped object the chart owns. */
/**
 * `kubectl get TYPES -n NS -o name`; a type that vanished since discovery listed it (a CRD being
 * deleted: "the server doesn't have a resource type") has no objects, so it is dropped and the
 * rest asked again — at most once per type.
 */
async function getDroppingVanishedTypes(kubectl: (args: string[]) => Promise<string>, types: string[], ns: string): Promise<string> {
  let left = [...types];
  for (;;) {
    try {
      return await kubectl(['get', left.join(','), '-n', ns, '-o', 'name', '--ignore-not-found']);
    } catch (e) {
      const gone = /the server doesn't have a resource type "([^"]+)"/.exec(String((e as Error).message))?.[1];
      const next = gone ? left.filter((t) => t !== gone && !t.startsWith(`${gone}.`)) : left;
      if (!gone || next.length === left.length) throw e;
      left = next;
    }
  }
}

export async function leftovers(kubectl: (args: string[]) => Promise<string>): Promise<{ namespaced: string[]; cluster: string[] }> {
  const namespacedTypes = (await kubectl(['api-resources', '--verbs=list', '--namespaced', '-o', 'name'])).trim().split('\n');
  const namespaced: string[] = [];
  for (const ns of NAMESPACES) {
    const out = await getDroppingVanishedTypes(kubectl, namespacedTypes, ns);
    namespaced.push(
      ...out
        .split('\n')
        .filter(Boolean)
        .map((o) => `${ns}/${o}`),
    );
  }
  // by name, not label: the CRDs carry only Helm's labels, and a leftover might carry none
  const clusterTypes =
    'clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings,customresourcedefinitions';
  const cluster = (await kubectl(['get', clusterTypes, '-o', 'name'])).split('\n').filter((o) => /\/gantry-|\.gantry\.dev$/.test(o));
  return { namespaced, cluster };
}
