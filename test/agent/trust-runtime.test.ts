/**
 * Trust changed at run time, agent side (issue 35): a real `gantry agent --trust-configmap`
 * (deploy/base's ServiceAccount, node-bound, on the real API server) follows the gantry-trust
 * ConfigMap. Trust only narrows what runs: an instance whose issuer leaves the policy has its
 * host stopped and is Failed `UntrustedIssuer` naming the issuer; a widened policy lets new
 * instances start; a malformed update keeps the last valid policy (and running hosts); a
 * deleted ConfigMap trusts nothing. The test plays the controller.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostTarget } from '../../agent/target.js';
import { generateSeed, publicKeyFromSeed } from '../../par/index.js';
import {
  agentArgs,
  createInstance,
  isPhase,
  NODE,
  providerLibrary,
  publish,
  startWorld,
  stopAgent,
  waitForInstance,
  type World,
} from './harness.js';

const target = hostTarget();
const CM_PATH = '/api/v1/namespaces/gantry-system/configmaps';
const CM = 'gantry-trust';
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const hostPid = (inst: any) => Number(/host pid (\d+)/.exec(inst.status.message)?.[1]);

describe('gantry agent --trust-configmap: trust changed at run time', () => {
  let w: World;
  let agent: ChildProcess;
  let cacheDir: string;
  let log = '';
  const archives: Record<string, { ref: string; digest: string }> = {};
  const otherSeed = generateSeed('account');
  const other = publicKeyFromSeed(otherSeed);

  const setTrust = (issuers: string) =>
    w.kube.replace(`${CM_PATH}/${CM}`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: 'gantry-system' },
      data: { 'trusted-issuers': issuers },
    });
  const run = async (name: string, repo: string, issuers?: string[]) => {
    const a = archives[repo];
    await createInstance(w, { name, provider: repo, ref: a.ref, digest: a.digest, target, capid: 'gantry:echo', issuers });
    return waitForInstance(w, name, isPhase('Running'));
  };
  const failedUntrusted = (name: string, fragment: string) =>
    waitForInstance(
      w,
      name,
      (i) => i?.status?.phase === 'Failed' && i.status.reason === 'UntrustedIssuer' && i.status.message.includes(fragment),
    );
  const logged = async (fragment: string) => {
    for (let i = 0; i < 200 && !log.includes(fragment); i++) await new Promise((r) => setTimeout(r, 50));
    expect(log).toContain(fragment);
  };

  beforeAll(async () => {
    w = await startWorld();
    archives.echo = await publish(w, {
      repo: 'echo',
      capid: 'gantry:echo',
      binaries: { [target]: providerLibrary('echo') },
      issuerSeed: w.issuerSeed,
    });
    archives.other = await publish(w, {
      repo: 'other',
      capid: 'gantry:echo',
      binaries: { [target]: providerLibrary('echo') },
      issuerSeed: otherSeed,
    });
    await w.kube.create(CM_PATH, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: 'gantry-system' },
      data: { 'trusted-issuers': w.issuer },
    });
    cacheDir = mkdtempSync(join(tmpdir(), 'gantry-trust-runtime-'));
    // the world's agent arguments without --trust-issuer: the ConfigMap alone says what is trusted
    const args = agentArgs(w, NODE, cacheDir, '--trust-configmap', `gantry-system/${CM}`);
    args.splice(args.indexOf('--trust-issuer'), 2);
    agent = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } });
    agent.stderr?.on('data', (d) => {
      log = (log + d.toString()).slice(-40_000);
    });
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') process.stderr.write(`--- gantry agent stderr ---\n${log}\n`);
  });
  afterAll(async () => {
    await stopAgent(agent);
    await w?.stop();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  it('the policy is the ConfigMap from the start: its issuer runs, another is refused', async () => {
    await run('echo-0', 'echo');
    await createInstance(w, {
      name: 'other-0',
      provider: 'other',
      ref: archives.other.ref,
      digest: archives.other.digest,
      target,
      capid: 'gantry:echo',
    });
    await waitForInstance(w, 'other-0', (i) => i?.status?.phase === 'Failed' && i.status.reason === 'UntrustedIssuer');
  });

  it('narrowed: the running instance of the issuer that left has its host stopped and is Failed UntrustedIssuer, naming it', async () => {
    const pid = hostPid(await run('echo-1', 'echo'));
    expect(alive(pid)).toBe(true);
    await setTrust(other);
    const inst = await failedUntrusted('echo-1', w.issuer);
    expect(inst.status.message).toContain('no longer trusts for default/echo-1 (changed at run time): its host is stopped');
    expect(inst.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'UntrustedIssuer' });
    await failedUntrusted('echo-0', w.issuer);
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    // and the issuer now trusted runs
    await run('other-1', 'other');
  });

  it('widened: an instance of the issuer trusted again runs; the instance already running keeps its host', async () => {
    const otherPid = hostPid(await getRunning('other-1'));
    await setTrust(`${other},${w.issuer}`);
    await run('echo-2', 'echo');
    const still = await getRunning('other-1');
    expect(hostPid(still)).toBe(otherPid);
    expect(still.status.restartCount).toBe(0);
  });

  it('a malformed update is refused as a whole (logged with its reason): the last valid policy stays, its hosts keep running', async () => {
    const pid = hostPid(await getRunning('other-1'));
    // taken in part, it would stop `other`
    await setTrust(`${w.issuer},not-a-key`);
    await logged('trusted-issuers entry 2 \\"not-a-key\\" is not an account public key');
    expect(log).toContain('TRUST_POLICY_INVALID');
    const still = await getRunning('other-1');
    expect(hostPid(still)).toBe(pid);
    expect(alive(pid)).toBe(true);
    await run('other-2', 'other');
  });

  it('narrowing away one issuer stops only its instances: one whose spec.issuers (the list the controller copied) named it keeps running', async () => {
    await setTrust(`${w.issuer},${other}`);
    const pid = hostPid(await run('echo-3', 'echo', [w.issuer, other]));
    await setTrust(w.issuer);
    await failedUntrusted('other-2', other);
    await failedUntrusted('other-1', other);
    const still = await getRunning('echo-3');
    expect(hostPid(still)).toBe(pid);
    expect(alive(pid)).toBe(true);
  });

  it('the ConfigMap deleted: nothing is trusted, every running host is stopped', async () => {
    await w.kube.delete(`${CM_PATH}/${CM}`);
    for (const name of ['echo-2', 'echo-3']) await failedUntrusted(name, 'no trusted issuers');
  });

  async function getRunning(name: string) {
    return waitForInstance(w, name, isPhase('Running'));
  }
});
