/**
 * An agent SIGKILLed at several points of an instance start, then started again on the same
 * cache dir: the new agent stops every host its predecessor left (recorded at fork, or found
 * by the GANTRY_HOST_RECORDS marker in its environment) before it starts its own, so after
 * each restart exactly one host serves the instance — never two — and an instance deleted
 * while the agent was dead has no host at all. Hosts are counted as processes (the marker in
 * /proc/<pid>/environ) and as NATS subscriptions on the instance's subject.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instanceSubject } from '../../client/protocol.js';
import { hostTarget } from '../../agent/target.js';
import { HOST_RECORDS_ENV } from '../../agent/host-records.js';
import { gantryBin } from '../../runtime/paths.js';
import { killMarked, markedProcesses } from '../../sandbox/launcher/child-group.js';
import { isAlive } from '../../sandbox/launcher/state-dir.js';
import {
  createInstance,
  instancesPath,
  isPhase,
  NS,
  providerLibrary,
  publish,
  startWorld,
  subscriptionCount,
  waitForInstance,
  type World,
} from './harness.js';
import { until } from '../support/until.js';

const target = hostTarget();
let w: World;
let cacheDir: string;
let archive: { ref: string; digest: string };
let agent: ChildProcess | undefined;
let agentLog = '';

const hostsDir = () => join(cacheDir, 'hosts');
const liveHosts = () => markedProcesses(hostsDir(), HOST_RECORDS_ENV).filter(isAlive);
const subs = (name: string) => subscriptionCount(w, instanceSubject(NS, 'echo', name) + '.*.*');

/**
 * These tests count every process carrying the records marker, so the agent runs without a
 * pool of idle hosts (they carry it too) except where a test says otherwise.
 */
function startAgent(hostPool = 0): ChildProcess {
  const p = spawn(
    process.execPath,
    [
      gantryBin(),
      'agent',
      '--kubeconfig',
      w.kubeconfigPath,
      '--node',
      'node-a',
      '--nats',
      w.nats.url,
      '--cache-dir',
      cacheDir,
      '--trust-issuer',
      w.issuer,
      '--plain-http-registry',
      w.registry.host,
      '--host-pool',
      String(hostPool),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'info' } },
  );
  p.stderr?.on('data', (d) => (agentLog = (agentLog + d).slice(-20_000)));
  return p;
}

async function killAgent(): Promise<void> {
  const p = agent;
  agent = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await done;
}

beforeAll(async () => {
  w = await startWorld();
  cacheDir = mkdtempSync(join(tmpdir(), 'gantry-agent-sigkill-'));
  archive = await publish(w, {
    repo: 'echo',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
}, 60_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') process.stderr.write(`--- gantry agent stderr (last 20 kB) ---\n${agentLog}\n`);
});

afterAll(async () => {
  await killAgent();
  if (cacheDir) killMarked(hostsDir(), HOST_RECORDS_ENV);
  await w?.stop();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

describe('agent SIGKILLed during an instance start', () => {
  // each point: how far the instance's start has got when the agent dies
  const points: { name: string; reached: (name: string) => Promise<boolean> }[] = [
    { name: 'as the instance is created', reached: async () => true },
    {
      name: 'while fetching or verifying',
      reached: async (n) =>
        ['Fetching', 'Verifying', 'Starting', 'Running'].includes(
          (await w.kube.get(instancesPath(NS, n)).catch(() => undefined))?.status?.phase,
        ),
    },
    {
      name: 'while the host starts',
      reached: async (n) =>
        ['Starting', 'Running'].includes((await w.kube.get(instancesPath(NS, n)).catch(() => undefined))?.status?.phase),
    },
    { name: 'once a host process exists', reached: async () => liveHosts().length > 0 },
    {
      name: 'once Running',
      reached: async (n) => (await w.kube.get(instancesPath(NS, n)).catch(() => undefined))?.status?.phase === 'Running',
    },
  ];

  for (const [i, p] of points.entries()) {
    it(`${p.name}: the restarted agent runs exactly one host for the instance`, async () => {
      const name = `echo-${i}`;
      agent = startAgent();
      await createInstance(w, { name, provider: 'echo', ref: archive.ref, digest: archive.digest, target });
      await until(p.name, () => p.reached(name));
      await killAgent();
      agent = startAgent();
      await waitForInstance(w, name, isPhase('Running'), 30_000);
      // the predecessor's hosts are stopped before the new agent starts any: one process, one subscriber
      await until('one host', async () => liveHosts().length === 1 && (await subs(name)) === 1);
      expect(liveHosts()).toHaveLength(1);
      expect(await subs(name)).toBe(1);
      await w.kube.delete(instancesPath(NS, name));
      await until('the host to stop after the delete', async () => liveHosts().length === 0 && (await subs(name)) === 0);
      await killAgent();
    });
  }

  it('a host forked in the instant before its record was written (a marked process, no record) is stopped by the next agent', async () => {
    // what an agent SIGKILLed between fork() and the record write leaves: a process carrying
    // the records dir's marker that no record names, and that does not exit on its own
    const stray = spawn('sleep', ['300'], { env: { ...process.env, [HOST_RECORDS_ENV]: hostsDir() }, stdio: 'ignore', detached: true });
    await until('the stray to run', () => liveHosts().includes(stray.pid!));
    const exited = new Promise((r) => stray.once('exit', r));
    agent = startAgent();
    await exited;
    expect(isAlive(stray.pid!)).toBe(false);
    await killAgent();
  });

  it('an instance deleted while its agent was dead gets no host from the restarted agent', async () => {
    const name = 'echo-gone';
    agent = startAgent();
    await createInstance(w, { name, provider: 'echo', ref: archive.ref, digest: archive.digest, target });
    await waitForInstance(w, name, isPhase('Running'), 30_000);
    const before = liveHosts();
    expect(before).toHaveLength(1);
    await killAgent();
    await w.kube.delete(instancesPath(NS, name));
    agent = startAgent();
    // the very process, not only the marked list: an exiting process's environ (the marker) is
    // unreadable a moment before it is a zombie, so the list can be empty while it still runs
    await until('the left host to be gone', async () => !isAlive(before[0]!) && liveHosts().length === 0 && (await subs(name)) === 0);
    // and it stays gone: the new agent is up (it renewed its Lease) and starts nothing for it
    await until(
      'the new agent to hold its Lease',
      async () =>
        !!(await w.kube.get('/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-agent-node-a').catch(() => undefined)),
    );
    expect(liveHosts()).toEqual([]);
  });

  it('with a pool of idle hosts, once Running: the restarted agent runs one serving host, and the idle pooled hosts are gone with their agent', async () => {
    const name = 'echo-pooled';
    await killAgent(); // the previous test leaves its agent running
    agent = startAgent(2);
    await createInstance(w, { name, provider: 'echo', ref: archive.ref, digest: archive.digest, target });
    await waitForInstance(w, name, isPhase('Running'), 30_000);
    // the serving host plus two idle ones, all children of this agent, all marked
    await until('the pool to refill', () => liveHosts().length === 3);
    const first = liveHosts();
    await killAgent();
    agent = startAgent(2);
    await waitForInstance(w, name, isPhase('Running'), 30_000);
    await until(
      "one subscriber and none of the first agent's processes",
      async () => (await subs(name)) === 1 && first.every((pid) => !isAlive(pid)),
    );
    expect(await subs(name)).toBe(1);
    expect(first.filter(isAlive)).toEqual([]);
    // one serving host and the new agent's two idle ones
    await until('the new pool', () => liveHosts().length === 3);
    await w.kube.delete(instancesPath(NS, name));
    await until('the host to stop after the delete', async () => (await subs(name)) === 0 && liveHosts().length === 2);
    await killAgent();
    // idle pooled hosts leave with their agent (their IPC channel closes)
    await until('the orphaned pool to exit', () => liveHosts().length === 0);
  });
});
