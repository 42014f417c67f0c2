/**
 * `gantry agent --host-cgroup DIR` end to end: a real agent process, started as an operator
 * would, runs each instance's host in a memory cgroup of its own under DIR; a burst past the
 * instance's resources.memory is ended by the kernel and the instance shows OOMKilled with the
 * kernel's message, restarts, and leaves no cgroup behind. A DIR it cannot use stops it with
 * exit 2 before it touches the cluster (never a silent fallback to polling).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTarget } from '../../agent/target.js';
import { callProvider } from '../../client/call.js';
import { gantryBin } from '../../runtime/paths.js';
import {
  agentArgs,
  createInstance,
  isPhase,
  NODE,
  NS,
  providerLibrary,
  publish,
  startWorld,
  stopAgent,
  waitForInstance,
  type World,
} from './harness.js';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';
const usable = process.getuid?.() === 0 && existsSync(join(MEMORY_ROOT, 'memory.limit_in_bytes'));
const MiB = 2 ** 20;

describe('gantry agent --host-cgroup usage', () => {
  const agent = (...args: string[]) =>
    spawnSync(process.execPath, [gantryBin(), 'agent', '--node', 'n1', '--nats', 'nats://127.0.0.1:1', ...args], {
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('is listed in --help', () => {
    expect(agent('--help').stdout).toMatch(/--host-cgroup <dir> +a writable memory cgroup directory/);
  });

  it('refuses a directory it cannot use with exit 2 and the reason, before it dials the cluster', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'gantry-host-cgroup-usage-'));
    // a kubeconfig that parses, pointing nowhere: the refusal must come first
    const kubeconfig = join(scratch, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n' +
        'users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n',
    );
    for (const [dir, why] of [
      ['/nonexistent/gantry-hosts', /--host-cgroup \/nonexistent\/gantry-hosts: no such directory; create it/],
      [tmpdir(), /not in a cgroup filesystem/],
      ...(usable ? [['/sys/fs/cgroup/cpu', /outside the memory hierarchy/] as const] : []),
    ] as const) {
      const r = agent('--kubeconfig', kubeconfig, '--cache-dir', join(scratch, 'cache'), '--host-cgroup', dir);
      expect([dir, r.status]).toEqual([dir, 2]);
      expect(r.stderr).toMatch(why);
    }
    // nothing was made: the check is the first thing the agent does
    expect(existsSync(join(scratch, 'cache'))).toBe(false);
    rmSync(scratch, { recursive: true, force: true });
  });
});

describe.skipIf(!usable)('an agent with --host-cgroup', () => {
  const parentDir = join(MEMORY_ROOT, `gantry-agent-test-${process.pid}`);
  let w: World;
  let nc: NatsConnection;
  let agent: ChildProcess;
  let stderr = '';
  let cacheDir: string;

  beforeAll(async () => {
    mkdirSync(parentDir);
    w = await startWorld();
    nc = await connect({ servers: w.nats.url });
    cacheDir = mkdtempSync(join(tmpdir(), 'gantry-host-cgroup-'));
    agent = spawn(
      process.execPath,
      agentArgs(w, NODE, cacheDir, '--host-pool', '1', '--host-cgroup', parentDir, '--metrics-addr', '127.0.0.1:0'),
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' },
      },
    );
    agent.stderr?.on('data', (d) => {
      stderr += d;
    });
  }, 120_000);

  afterAll(async () => {
    await stopAgent(agent);
    await nc?.close();
    await w?.stop();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    if (existsSync(parentDir)) rmdirSync(parentDir); // fails the run if a host's cgroup was left in it
  });

  it('runs the host in a cgroup limited to resources.memory; a burst past it is ended by the kernel and reported OOMKilled', async () => {
    const target = hostTarget();
    const faulty = await publish(w, {
      repo: 'faulty-cgroup',
      capid: 'gantry:faulty',
      binaries: { [target]: providerLibrary('faulty') },
      issuerSeed: w.issuerSeed,
    });
    await createInstance(w, {
      name: 'burst-0',
      provider: 'faulty',
      ref: faulty.ref,
      digest: faulty.digest,
      target,
      resources: { memory: '96Mi' },
    });
    await waitForInstance(w, 'burst-0', isPhase('Running'), 60_000);
    expect(stderr).toMatch(`memory capped by memory cgroup v1 under ${parentDir}`);
    const metricsUrl = /\(metrics (http:\/\/\S+)\)/.exec(stderr)?.[1];
    expect(await (await fetch(metricsUrl as string)).text()).toMatch(/^gantry_agent_memory_cgroup 1$/m);
    const children = () =>
      readdirSync(parentDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    expect(children()).toEqual([expect.stringMatching(/^node-a_default_burst-0_\d+$/)]);

    const burst = callProvider(nc, {
      namespace: NS,
      provider: 'faulty',
      instance: 'burst-0',
      op: 'Leak',
      data: JSON.stringify({ bytes: 512 * MiB }),
      timeoutMs: 3000,
    });
    await expect(burst).rejects.toMatchObject({ code: expect.stringMatching(/TIMEOUT|NO_RESPONDERS/) });
    const oom = await waitForInstance(w, 'burst-0', (i) => i?.status?.lastTermination?.reason === 'OOMKilled', 20_000);
    expect(oom.status.lastTermination.message).toMatch(
      /^the kernel's OOM killer ended the host of default\/burst-0 at its memory cgroup's limit of 96 MiB \(resources.memory\), peak \d+ MiB; oom_kill 1 in /,
    );
    const back = await waitForInstance(w, 'burst-0', (i) => isPhase('Running')(i) && i.status.restartCount >= 1, 30_000);
    expect(back.status.lastTermination.reason).toBe('OOMKilled');
    // the dead host's cgroup is gone; the restarted one has its own
    expect(children()).toEqual([expect.stringMatching(/^node-a_default_burst-0_\d+$/)]);
    expect(children()[0]).not.toBe(oom.status.lastTermination.message.match(/in \S+\/(node-a_default_burst-0_\d+)$/)?.[1]);
  });
});
