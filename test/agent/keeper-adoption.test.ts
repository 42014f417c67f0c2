/**
 * Hosts in a host keeper outlive their agent (agent/keeper/): an agent SIGKILLed or stopped
 * while its instance serves 100 calls/s is replaced, and the new agent adopts the running host
 * — the same pid, no restart counted, not one failed call. An instance whose spec changed while
 * no agent ran gets a new host (adoption is only for the same spec); one deleted meanwhile has
 * its host stopped by the next agent, and so does one still bound here that the next agent does not
 * admit under a lowered --max-instances. The keeper's socket refuses another protocol version
 * and an agent that has not said hello, each with its own code.
 *
 * Real parts: the keeper and the agents are `gantry` processes; nats-server, docker-registry and
 * the API server (emulated or real) come from the harness; the echo provider is compiled C.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect as connectSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callProvider } from '../../client/call.js';
import { hostTarget } from '../../agent/target.js';
import { gantryBin } from '../../runtime/paths.js';
import {
  agentArgs,
  createInstance,
  instancesPath,
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
import { until as waitUntil } from '../support/until.js';

const target = hostTarget();
let w: World;
let nc: NatsConnection;
let dir: string;
let socket: string;
let keeper: ChildProcess;
let agent: ChildProcess | undefined;
let archive: { ref: string; digest: string };
let log = '';

const capture = (p: ChildProcess, who: string) => p.stderr?.on('data', (d) => (log = `${log}[${who}] ${d}`.slice(-300_000)));

function startAgentProcess(...extra: string[]): ChildProcess {
  const p = spawn(process.execPath, agentArgs(w, NODE, join(dir, 'cache'), '--host-keeper', socket, ...extra), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'info' },
  });
  capture(p, 'agent');
  return p;
}

/** The keeper's children: the provider hosts (the keeper runs no pool here). */
function keptPids(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(keeper.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

const hostPidOf = (inst: any): number | undefined =>
  Number(
    /host pid (\d+)/.exec(inst?.status?.conditions?.find((c: any) => c.type === 'Ready')?.message ?? inst?.status?.message ?? '')?.[1],
  ) || undefined;

/** Calls at `perSecond` until stopped; counts every outcome. */
function steadyCalls(name: string, perSecond: number) {
  const out = { sent: 0, ok: 0, failed: [] as string[] };
  let stopped = false;
  const running: Promise<void>[] = [];
  const timer = setInterval(() => {
    if (stopped) return;
    out.sent++;
    running.push(
      callProvider(nc, { namespace: NS, provider: 'echo', instance: name, op: 'Echo', data: `c${out.sent}`, timeoutMs: 2000 }).then(
        () => void out.ok++,
        (e: Error & { code?: string }) => void out.failed.push(`${e.code ?? ''} ${e.message}`),
      ),
    );
  }, 1000 / perSecond);
  return {
    out,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(running);
      return out;
    },
  };
}

const until = (what: string, ok: () => boolean | Promise<boolean>, ms = 60_000) => waitUntil(what, ok, ms);

beforeAll(async () => {
  w = await startWorld();
  nc = await connect({ servers: w.nats.url });
  dir = mkdtempSync(join(tmpdir(), 'gantry-keeper-'));
  socket = join(dir, 'keeper', 'keeper.sock');
  keeper = spawn(
    process.execPath,
    [gantryBin(), 'host-keeper', '--socket', socket, '--node', NODE, '--host-pool', '0', '--orphan-grace', '0'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'info' } },
  );
  capture(keeper, 'keeper');
  await until('the keeper socket', () => {
    try {
      return statSync(socket).isSocket();
    } catch {
      return false;
    }
  });
  archive = await publish(w, {
    repo: 'echo',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
}, 60_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') process.stderr.write(`--- keeper and agent stderr ---\n${log}\n`);
});

afterAll(async () => {
  await stopAgent(agent);
  await stopAgent(keeper);
  await nc?.close();
  await w?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('hosts in a host keeper', () => {
  it('the socket is 0600 in a 0700 directory', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keeper')).mode & 0o777).toBe(0o700);
  });

  for (const how of ['SIGKILL', 'SIGTERM'] as const) {
    it(`an agent ${how === 'SIGKILL' ? 'killed' : 'stopped'} and replaced under 100 calls/s: the host is adopted, same pid, 0 restarts, 0 failed calls`, async () => {
      const name = `echo-${how.toLowerCase()}`;
      agent = startAgentProcess();
      await createInstance(w, { name, provider: 'echo', ref: archive.ref, digest: archive.digest, target });
      const running = await waitForInstance(w, name, isPhase('Running'), 60_000);
      const pid = hostPidOf(running);
      expect(pid).toBeGreaterThan(0);
      expect(keptPids()).toContain(pid);

      const calls = steadyCalls(name, 100);
      // the instance's phase, sampled all through the restart: adopting a serving host is no fall from Running
      const phases = new Set<string>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          phases.add((await w.kube.get(instancesPath(NS, name))).status?.phase);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await until('some calls answered', () => calls.out.ok >= 50);
      await stopAgent(agent, how);
      const okWhileAway = calls.out.ok;
      await until('calls answered with no agent', () => calls.out.ok >= okWhileAway + 100);
      agent = startAgentProcess();
      await until('the new agent adopted the host', () =>
        new RegExp(`"instance":"${name}","pid":${pid},"msg":"adopted a running host"`).test(log),
      );
      await until('calls answered after the adoption', () => calls.out.ok >= okWhileAway + 300);
      const out = await calls.stop();
      sampling = false;
      await sampler;

      expect([...phases]).toEqual(['Running']);
      expect(out.failed).toEqual([]);
      expect(out.ok).toBe(out.sent);
      const after = await waitForInstance(w, name, isPhase('Running'));
      expect(hostPidOf(after)).toBe(pid);
      expect(after.status.restartCount ?? 0).toBe(0);
      expect(keptPids()).toEqual([pid]);
      await w.kube.delete(instancesPath(NS, name));
      await until('the host stopped with its instance', () => !keptPids().includes(pid!));
      await stopAgent(agent);
    }, 180_000);
  }

  it('an instance deleted while no agent ran has its host stopped by the next agent; one whose spec changed gets a new host', async () => {
    agent = startAgentProcess();
    await createInstance(w, { name: 'echo-gone', provider: 'echo', ref: archive.ref, digest: archive.digest, target });
    await createInstance(w, { name: 'echo-changed', provider: 'echo', ref: archive.ref, digest: archive.digest, target, config: { v: 1 } });
    const gone = hostPidOf(await waitForInstance(w, 'echo-gone', isPhase('Running'), 60_000));
    const changed = hostPidOf(await waitForInstance(w, 'echo-changed', isPhase('Running'), 60_000));
    await stopAgent(agent, 'SIGKILL');
    // the agent is gone: delete one instance (its finalizer-free object goes at once) and change the other's config
    await w.kube.delete(instancesPath(NS, 'echo-gone'));
    await w.kube.mergePatch(instancesPath(NS, 'echo-changed'), { spec: { config: { v: 2 } } });
    expect(keptPids()).toEqual(expect.arrayContaining([gone, changed]));
    agent = startAgentProcess();
    await until('the stray host stopped', () => !keptPids().includes(gone!));
    const renewed = await waitForInstance(w, 'echo-changed', (i) => isPhase('Running')(i) && hostPidOf(i) !== changed, 30_000);
    expect(keptPids()).toEqual([hostPidOf(renewed)]);
    expect((await callProvider(nc, { namespace: NS, provider: 'echo', instance: 'echo-changed', op: 'Echo', data: 'v2' })).instance).toBe(
      'echo-changed',
    );
    await w.kube.delete(instancesPath(NS, 'echo-changed'));
    await until('no host left', () => keptPids().length === 0);
    await stopAgent(agent);
  }, 180_000);

  it('a host whose instance the next agent does not admit (--max-instances lowered) is stopped; the instance waits and starts when a place frees', async () => {
    agent = startAgentProcess();
    await createInstance(w, { name: 'echo-first', provider: 'echo', ref: archive.ref, digest: archive.digest, target });
    const first = hostPidOf(await waitForInstance(w, 'echo-first', isPhase('Running'), 60_000));
    await createInstance(w, { name: 'echo-second', provider: 'echo', ref: archive.ref, digest: archive.digest, target });
    const second = hostPidOf(await waitForInstance(w, 'echo-second', isPhase('Running'), 60_000));
    await stopAgent(agent, 'SIGKILL');
    expect(keptPids().sort()).toEqual([first, second].sort());
    // the cap is lowered across the restart: the older instance keeps its place and its host
    agent = startAgentProcess('--max-instances', '1');
    await until('the unadmitted host stopped', () => !keptPids().includes(second!));
    const waiting = await waitForInstance(w, 'echo-second', (i) => i.status?.reason === 'InstanceLimit', 30_000);
    expect(waiting.status?.phase).toBe('Pending');
    expect(keptPids()).toEqual([first]);
    expect(log).toMatch(/"instance":"default\/echo-second","pid":\d+,"msg":"stopping a host no instance of this node claims"/);
    await until('the first host adopted', () => /"instance":"echo-first","pid":\d+,"msg":"adopted a running host"/.test(log));
    // a place frees: the waiting instance gets a new host
    await w.kube.delete(instancesPath(NS, 'echo-first'));
    const started = await waitForInstance(w, 'echo-second', isPhase('Running'), 60_000);
    expect(hostPidOf(started)).not.toBe(second);
    expect(keptPids()).toEqual([hostPidOf(started)]);
    await w.kube.delete(instancesPath(NS, 'echo-second'));
    await until('no host left', () => keptPids().length === 0);
    await stopAgent(agent);
  }, 180_000);

  it('a second agent on the node takes over: the first one exits (its hosts stay), and the second one adopts the hosts', async () => {
    const first = startAgentProcess();
    agent = first;
    await createInstance(w, { name: 'echo-twice', provider: 'echo', ref: archive.ref, digest: archive.digest, target });
    const pid = hostPidOf(await waitForInstance(w, 'echo-twice', isPhase('Running'), 60_000));
    const exited = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
    agent = startAgentProcess();
    expect(await exited).toBe(1); // "the host keeper went away": its connection was closed by the takeover
    expect(log).toMatch(/the host keeper went away, and its hosts with it; exiting/);
    await until('the second agent adopted the host', () => /"instance":"echo-twice","pid":\d+,"msg":"adopted a running host"/.test(log));
    expect(keptPids()).toEqual([pid]);
    await w.kube.delete(instancesPath(NS, 'echo-twice'));
    await until('no host left', () => keptPids().length === 0);
    await stopAgent(agent);
  }, 180_000);

  it('refuses another protocol version and requests before hello, each with its code', async () => {
    const ask = (lines: object[]) =>
      new Promise<string[]>((resolve, reject) => {
        const s = connectSocket(socket);
        let got = '';
        s.setEncoding('utf8');
        s.on('data', (d) => {
          got += d;
          if (got.split('\n').filter(Boolean).length >= lines.length) s.end();
        });
        s.on('close', () => resolve(got.split('\n').filter(Boolean)));
        s.on('error', reject);
        s.on('connect', () => s.write(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
      });
    const [list] = await ask([{ id: 1, op: 'list' }]);
    expect(JSON.parse(list)).toMatchObject({ id: 1, ok: false, code: 'KEEPER_NO_HELLO' });
    const [hello] = await ask([{ id: 2, op: 'hello', version: 99, node: NODE }]);
    expect(JSON.parse(hello)).toMatchObject({ id: 2, ok: false, code: 'KEEPER_VERSION_MISMATCH' });
    expect(JSON.parse(hello).message).toMatch(/protocol 1, the agent 99/);
  });
});
