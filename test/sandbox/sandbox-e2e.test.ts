/**
 * `gantry sandbox up` / `down` end to end, as a user runs them: the real CLI from dist/, real
 * nats-server, docker-registry, gcc-built providers and kubectl against the API emulator.
 * Up with two host nodes and one foreign arm64 node → the example Providers become Ready and
 * only on host nodes → a call through NATS is answered → a Daemon Provider skips the arm64
 * node with the reason → a second `up` on the same dir is
 * refused → `down` stops every process → `up` again resumes the same cluster → Ctrl-C stops it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { connectNats } from '../../client/nats.js';
import { callProvider } from '../../client/call.js';
import { gantryBin } from '../../runtime/paths.js';
import { findBinary } from '../support/binaries.js';
import { isAlive } from '../../sandbox/launcher/state-dir.js';
import { sample } from '../support/prometheus.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-sandbox-e2e-'));
const kubectl = findBinary('kubectl')!;
const env = { ...process.env, GANTRY_LOG_LEVEL: 'warn' };
// the first `up` picks the API server: the suite runs on both grounds (vitest.config.ts)
const ground = process.env.GANTRY_TEST_APISERVER === 'real' ? 'real' : 'emulated';
const apiParts = ground === 'real' ? ['etcd', 'kube-apiserver'] : ['apiserver'];

interface Up {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function startUp(args: string[] = []): Up {
  const proc = spawn(process.execPath, [gantryBin(), 'sandbox', 'up', '--state-dir', dir, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, out: () => out, exited };
}

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  detail: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}\n${detail()}`);
}

function kube(...args: string[]): string {
  return execFileSync(kubectl, ['--kubeconfig', join(dir, 'kubeconfig'), ...args], { encoding: 'utf8' });
}

/** Runs `gantry sandbox ARGS` without blocking this process (which must keep reaping the `up` child). */
function gantry(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [gantryBin(), 'sandbox', ...args, '--state-dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

let up: Up | undefined;
let childPids: number[] = [];

beforeAll(() => {
  if (!existsSync(join(gantryBin(), '..', '..', 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first');
});

afterAll(async () => {
  if (up && up.proc.exitCode === null) {
    up.proc.kill('SIGTERM');
    await up.exited;
  }
  for (const pid of childPids)
    if (isAlive(pid))
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
  rmSync(dir, { recursive: true, force: true });
});

describe('gantry sandbox up/down', () => {
  it('comes up with the examples Ready, placed only where the archive has a binary, and answers calls', async () => {
    up = startUp(['--nodes', '2,arm64/linux', '--apiserver', ground]);
    const u = up;
    await until('"The sandbox is up"', () => u.out().includes('The sandbox is up'), 90_000, u.out);
    expect(u.out()).toMatch(/gantry-node-3\s+arm64\/linux\s+\(foreign: .*cannot load aarch64-linux binaries/);
    expect(u.out()).toContain(`kubectl --kubeconfig ${join(dir, 'kubeconfig')} get providers`);

    const ready = await until(
      'both example Providers Ready (kubectl get providers)',
      () => {
        const items = JSON.parse(kube('get', 'providers', '-o', 'json')).items as any[];
        const readyNames = items
          .filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
          .map((p) => p.metadata.name)
          .sort();
        return readyNames.length === 2 ? readyNames : undefined;
      },
      60_000,
      () => kube('get', 'providers,providerinstances', '-o', 'wide'),
    );
    expect(ready).toEqual(['echo', 'keyvalue']);
    expect(kube('get', 'providers')).toMatch(/echo\s+gantry:echo\s+1\s+1\s+1/);

    const nodesUsed = JSON.parse(kube('get', 'providerinstances', '-o', 'json')).items.map((i: any) => i.spec.nodeName);
    expect(nodesUsed.length).toBe(2);
    for (const n of nodesUsed) expect(['gantry-node-1', 'gantry-node-2']).toContain(n);

    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    childPids = run.children.map((c: any) => c.pid);
    // the membrane: anonymous connections are refused; the sandbox's admin creds call
    await expect(connect({ servers: run.natsUrl, maxReconnectAttempts: 0, tls: { caFile: run.natsCa } })).rejects.toThrow(
      /[Aa]uthorization/,
    );
    // the bus is TLS: a client that does not trust the sandbox's CA is refused in the handshake
    await expect(connect({ servers: run.natsUrl, maxReconnectAttempts: 0 })).rejects.toThrow(/certificate|self.signed|issuer/i);
    const nc = await connectNats({ servers: run.natsUrl, credsFile: run.natsCreds, tls: { caFile: run.natsCa } });
    try {
      const { reply, instance } = await callProvider(nc, {
        namespace: 'default',
        provider: 'echo',
        op: 'Echo',
        data: 'hello sandbox',
        timeoutMs: 5000,
      });
      expect(new TextDecoder().decode(reply)).toBe('hello sandbox');
      expect(instance).toMatch(/^echo-/);
    } finally {
      await nc.close();
    }
    // as a user would after `up`: no --nats, the running sandbox is found
    const call = execFileSync(process.execPath, [gantryBin(), 'call', 'echo', 'Echo', '--data', 'hi from the CLI', '--json'], {
      encoding: 'utf8',
      env: { ...env, GANTRY_SANDBOX_DIR: dir, GANTRY_NATS_URL: '' },
    });
    expect(JSON.parse(call)).toMatchObject({ reply: 'hi from the CLI', instance: expect.stringMatching(/^echo-/) });
  });

  it('a Daemon Provider lands on every host node and skips the foreign one, saying why', async () => {
    const reg = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')).registry.location;
    const file = join(dir, 'echo-all.yaml');
    writeFileSync(
      file,
      `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: echo-all, namespace: default}\nspec:\n  archive: {ref: ${reg}/examples/echo}\n  mode: Daemon\n`,
    );
    kube('apply', '-f', file);
    const scheduled = await until(
      'echo-all Ready on the two host nodes',
      () => {
        const p = JSON.parse(kube('get', 'provider', 'echo-all', '-o', 'json'));
        const ready = p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True';
        return ready && p.status.readyReplicas === 2 ? p.status.conditions.find((c: any) => c.type === 'Scheduled') : undefined;
      },
      60_000,
      () => kube('get', 'providerinstances', '-o', 'wide'),
    );
    expect(scheduled.message).toContain('1 node arm64/linux: archive has no aarch64-linux binary');
    const nodes = JSON.parse(kube('get', 'providerinstances', '-l', 'gantry.dev/provider=echo-all', '-o', 'json'))
      .items.map((i: any) => i.spec.nodeName)
      .sort();
    expect(nodes).toEqual(['gantry-node-1', 'gantry-node-2']);
  });

  it('status reports the running parts; a second up on the same dir is refused', async () => {
    const st = await gantry('status', '--json');
    expect(st.status).toBe(0);
    const s = JSON.parse(st.stdout);
    expect(s.running).toBe(true);
    expect(s.apiserver).toBe(ground);
    expect(s.children.map((c: any) => c.name).sort()).toEqual(
      [
        'agent-gantry-node-1',
        'agent-gantry-node-2',
        'agent-gantry-node-3',
        // each node's host keeper: the parent of its provider hosts (agent/keeper/)
        'keeper-gantry-node-1',
        'keeper-gantry-node-2',
        'keeper-gantry-node-3',
        ...apiParts,
        'controller',
        'docker-registry',
        'nats-server',
      ].sort(),
    );
    expect(s.children.every((c: any) => c.alive)).toBe(true);
    expect(s.providers.map((p: any) => `${p.name}:${p.readyCondition}`).sort()).toEqual(['echo-all:True', 'echo:True', 'keyvalue:True']);

    // every process's metrics URL, each serving; the agents count the two Echo calls made above
    expect(s.metrics.map((m: any) => m.name).sort()).toEqual(
      ['controller', 'agent-gantry-node-1', 'agent-gantry-node-2', 'agent-gantry-node-3'].sort(),
    );
    for (const m of s.metrics) expect(m.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const echoCalls = async () => {
      let n = 0;
      for (const m of s.metrics) {
        const res = await fetch(m.url);
        expect(res.status, m.url).toBe(200);
        const text = await res.text();
        if (m.name.startsWith('agent-')) expect(text).toContain('# TYPE gantry_provider_calls_total counter');
        n += sample(text, 'gantry_provider_calls_total', { namespace: 'default', provider: 'echo', operation: 'Echo', code: 'OK' }) ?? 0;
      }
      return n;
    };
    await until('the agents count the 2 Echo calls', async () => (await echoCalls()) === 2, 15_000);

    const second = await gantry('up');
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`a sandbox is already running on ${dir}`);
  });

  it.runIf(ground === 'real')(
    "real API server: /livez checks etcd, agents run with node-bound tokens under the admission policy, and the agent's ServiceAccount may not do what only the controller may",
    async () => {
      expect(kube('get', '--raw', '/livez?verbose')).toMatch(/\[\+\]etcd ok/);
      // each agent runs with gantry-agent's token bound to its own Node, under the admission policy
      const node = kube('get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}').trim();
      const agentKc = join(dir, 'controlplane', `gantry-agent-${node}.kubeconfig`);
      const who = JSON.parse(execFileSync(kubectl, ['--kubeconfig', agentKc, 'auth', 'whoami', '-o', 'json'], { encoding: 'utf8' }));
      expect(who.status.userInfo.extra['authentication.kubernetes.io/node-name']).toEqual([node]);
      expect(kube('get', 'validatingadmissionpolicybinding', 'gantry-agent-node-restriction', '-o', 'name').trim()).toBe(
        'validatingadmissionpolicybinding.admissionregistration.k8s.io/gantry-agent-node-restriction',
      );
      const canI = (kc: string, ...args: string[]) => {
        try {
          return execFileSync(kubectl, ['--kubeconfig', kc, 'auth', 'can-i', ...args], { encoding: 'utf8' }).trim();
        } catch (err) {
          return String((err as { stdout?: string }).stdout ?? '').trim();
        }
      };
      expect(canI(agentKc, 'create', 'providerinstances.gantry.dev', '-n', 'default')).toBe('no');
      expect(canI(agentKc, 'patch', 'providers.gantry.dev', '-n', 'default')).toBe('no');
      expect(canI(agentKc, 'list', 'secrets', '-n', 'default')).toBe('no');
      // deploy/base's gantry-nodes is there: the agents' only Secrets, and none in gantry-system
      expect(canI(agentKc, 'get', 'secrets', '-n', 'gantry-nodes')).toBe('yes');
      expect(canI(agentKc, 'get', 'secrets/gantry-nats-tls', '-n', 'gantry-system')).toBe('no');
      expect(canI(agentKc, 'patch', 'providerinstances.gantry.dev', '--subresource=status', '-n', 'default')).toBe('yes');
      expect(
        canI(join(dir, 'controlplane', 'gantry-controller.kubeconfig'), 'create', 'providerinstances.gantry.dev', '-n', 'default'),
      ).toBe('yes');
    },
  );

  it('down stops every process it started and releases the state dir', async () => {
    const down = await gantry('down');
    expect(down.status, down.stderr).toBe(0);
    expect(await up!.exited).toBe(0);
    expect(up!.out()).toContain('sandbox stopped');
    for (const pid of childPids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(join(dir, 'run.json'))).toBe(false);
    const again = await gantry('down');
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('no sandbox is running');
  });

  it('a second up resumes the same cluster, and Ctrl-C stops it cleanly', async () => {
    up = startUp();
    const u = up;
    await until('"The sandbox is up" (resume)', () => u.out().includes('The sandbox is up'), 90_000, u.out);
    expect(u.out()).toContain('resuming the Gantry sandbox');
    expect(u.out()).toMatch(/examples\/echo\s+revision 1 \(already published\)/);
    expect(u.out()).toContain('Provider default/echo (exists; left as is)');
    expect(kube('get', 'nodes', '-o', 'name').trim().split('\n')).toHaveLength(3);
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    childPids = run.children.map((c: any) => c.pid);
    u.proc.kill('SIGINT');
    expect(await u.exited).toBe(0);
    for (const pid of childPids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
  });
});
