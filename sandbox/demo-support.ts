/**
 * What the demo's steps share (sandbox/demo.ts, sandbox/demo-config.ts): narration, waiting
 * for what a step must see, kubectl and the gantry CLI run as a person would, and the
 * Provider's instances as the steps show them.
 */
import { spawn } from 'node:child_process';
import type { NatsConnection } from '@nats-io/transport-node';
import { callProvider } from '../client/index.js';
import { type KubeClient, resourcePath } from '../runtime/kube.js';
import { gantryBin } from '../runtime/paths.js';
import type { ExampleArchive } from './launcher/example-archives.js';
import { findExecutable } from './launcher/host.js';
import type { Sandbox } from './launcher/sandbox.js';

export const NAME = 'demo-echo';
export const NS = 'default';

export const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
export const say = (s = '') => process.stdout.write(s + '\n');
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export interface Step {
  title: string;
  ms: number;
  numbered: boolean;
}
export const steps: Step[] = [];

export async function step<T>(title: string, fn: () => Promise<T>): Promise<T> {
  say();
  say(bold(`▶ ${steps.filter((s) => s.numbered).length + 1}. ${title}`));
  const t0 = performance.now();
  const v = await fn();
  const ms = performance.now() - t0;
  steps.push({ title, ms, numbered: true });
  say(`  ✓ done in ${secs(ms)}`);
  return v;
}

/** Poll until fn returns a value (or time runs out, which ends the demo with `what`). */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`demo: gave up waiting ${timeoutMs / 1000} s for ${what}`);
}

/**
 * A command run as a person types it (shown as `$ name args`), its output shown under it;
 * asynchronous, so this process keeps serving its NATS connection and child bookkeeping.
 */
function commandRunner(name: string, command: string, argsFor: (args: string[]) => string[]) {
  return (args: string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      say(`  $ ${name} ${args.join(' ')}`);
      const p = spawn(command, argsFor(args), { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.once('error', reject);
      p.once('exit', (code) => {
        for (const line of out.trimEnd().split('\n')) if (line) say(`    ${line}`);
        if (code === 0) resolve(out);
        else reject(new Error(`demo: ${name} ${args.join(' ')} failed (${code}): ${err.trim()}`));
      });
      p.stdin.end(input ?? '');
    });
}

export function kubectlRunner(kubeconfig: string) {
  const bin = findExecutable('kubectl');
  if (!bin) throw new Error('demo: kubectl is needed (it is how the demo talks to the cluster, as you would)');
  return commandRunner('kubectl', bin, (args) => ['--kubeconfig', kubeconfig, ...args]);
}

/** The gantry CLI of this build. */
export function gantryRunner(kubeconfig: string) {
  return commandRunner('gantry', process.execPath, (args) => [gantryBin(), ...args, '--kubeconfig', kubeconfig]);
}

export interface Instance {
  name: string;
  /** gantry.dev/template-hash: what the instance runs (archive, config, secret versions, …) */
  template?: string;
  node: string;
  revision?: number;
  phase?: string;
  deleting: boolean;
}

export async function instances(kube: KubeClient): Promise<Instance[]> {
  const list = await kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS }), {
    labelSelector: `gantry.dev/provider=${NAME}`,
  });
  return list.items.map((i: any) => ({
    name: i.metadata.name,
    template: i.metadata.labels?.['gantry.dev/template-hash'],
    node: i.spec.nodeName,
    revision: i.spec.archive?.revision,
    phase: i.status?.phase,
    deleting: !!i.metadata.deletionTimestamp,
  }));
}

export async function provider(kube: KubeClient): Promise<any> {
  return kube.get(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS, name: NAME }));
}

export const isReady = (p: any) => p?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

export async function calls(nc: NatsConnection, n: number): Promise<Map<string, number>> {
  const spread = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { instance, reply } = await callProvider(nc, { namespace: NS, provider: NAME, op: 'Echo', data: `call ${i}`, timeoutMs: 5000 });
    // after the config steps the echo provider prepends its configured prefix
    if (!new TextDecoder().decode(reply).endsWith(`call ${i}`))
      throw new Error(`demo: ${instance} answered "${new TextDecoder().decode(reply)}" to "call ${i}"`);
    spread.set(instance, (spread.get(instance) ?? 0) + 1);
  }
  return spread;
}

export function showInstances(list: Instance[]): void {
  for (const i of list)
    say(
      `    ${i.name.padEnd(18)} node ${i.node.padEnd(14)} revision ${i.revision ?? '?'}  ${i.phase ?? 'Pending'}${i.deleting ? ' (terminating)' : ''}`,
    );
}

/** What every step of the demo works with. */
export interface Demo {
  sandbox: Sandbox;
  kube: KubeClient;
  kubectl: ReturnType<typeof kubectlRunner>;
  gantry: ReturnType<typeof gantryRunner>;
  nc: NatsConnection;
  echo: ExampleArchive;
  /** The echo archive's repository in the sandbox's registry. */
  ref: string;
}
