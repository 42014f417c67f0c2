/**
 * The sandbox launcher's own parts, without the cluster pieces: node SPEC parsing, the state
 * dir (resume record, one launcher per dir), and supervision of the real nats-server and
 * docker-registry (start, log to file, report an unexpected exit, stop cleanly).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { connect as natsConnect } from '@nats-io/transport-node';
import { parseNodeSpec, nodeObject, hostKubeArchOs, parTarget } from '../../sandbox/launcher/node-spec.js';
import { StateDir, isAlive, type SandboxState } from '../../sandbox/launcher/state-dir.js';
import type { SandboxError } from '../../sandbox/launcher/errors.js';
import { ManagedProcess } from '../../sandbox/launcher/managed-process.js';
import { startNatsCluster, startNatsServer } from '../../sandbox/launcher/nats-server.js';
import { ensureBusCa, issueNatsServerCert } from '../../membrane/bus-pki.js';
import { chooseRegistryKind, startRegistry } from '../../sandbox/launcher/registry-server.js';
import { freePort } from '../../sandbox/launcher/host.js';
import { startSandbox } from '../../sandbox/launcher/sandbox.js';
import {
  defaultExampleProviders,
  objectPath,
  readYamlObjects,
  REGISTRY_PLACEHOLDER,
  sandboxExampleFiles,
} from '../../sandbox/launcher/cluster-objects.js';
import { exitStatus } from '../../cli/exit-status.js';

const tmp = mkdtempSync(join(tmpdir(), 'gantry-launcher-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as SandboxError).code;
  }
  return undefined;
}

describe('node SPEC', () => {
  const amd = { arch: 'amd64', os: 'linux' };

  it('defaults to three nodes of the host arch/os', () => {
    const nodes = parseNodeSpec(undefined, amd);
    expect(nodes.map((n) => n.name)).toEqual(['gantry-node-1', 'gantry-node-2', 'gantry-node-3']);
    expect(nodes.every((n) => n.target === 'x86_64-linux' && !n.foreign)).toBe(true);
  });

  it('adds foreign nodes from ARCH/OS:COUNT groups', () => {
    const nodes = parseNodeSpec('3,arm64/linux:2,ppc64le/linux', amd);
    expect(nodes).toHaveLength(6);
    expect(nodes.slice(3).map((n) => [n.name, n.target, n.foreign])).toEqual([
      ['gantry-node-4', 'aarch64-linux', true],
      ['gantry-node-5', 'aarch64-linux', true],
      ['gantry-node-6', 'powerpc64le-linux', true],
    ]);
    expect(nodeObject(nodes[3]).metadata.labels).toMatchObject({ 'kubernetes.io/arch': 'arm64', 'kubernetes.io/os': 'linux' });
  });

  it('a host-arch group written as ARCH/OS is not foreign', () => {
    expect(parseNodeSpec('amd64/linux:2', amd).every((n) => !n.foreign)).toBe(true);
  });

  it.each([
    ['', 'empty'],
    ['0', 'at least one'],
    ['three', 'neither COUNT'],
    ['3,', 'empty group'],
    ['arm64/linux:x', 'not a node count'],
    ['sparc/linux:1', 'unknown node arch'],
    ['amd64/plan9', 'unknown node os'],
    ['arm64/linux:2', "this host's arch/os"],
    ['17', 'more than 16'],
  ])('rejects %j (%s) with SANDBOX_BAD_NODE_SPEC, exit 2', (spec, why) => {
    let err: SandboxError | undefined;
    try {
      parseNodeSpec(spec, amd);
    } catch (e) {
      err = e as SandboxError;
    }
    expect(err?.code).toBe('SANDBOX_BAD_NODE_SPEC');
    expect(exitStatus(err)).toBe(2);
    expect(err?.message).toContain(why);
  });

  it('maps this host to Kubernetes names and a PAR target', () => {
    const h = hostKubeArchOs();
    expect(parTarget(h.arch, h.os)).toMatch(/^[a-z0-9_]+-[a-z]+$/);
    expect(hostKubeArchOs('x64', 'linux')).toEqual({ arch: 'amd64', os: 'linux' });
    expect(hostKubeArchOs('arm64', 'darwin')).toEqual({ arch: 'arm64', os: 'darwin' });
  });
});

describe('state dir', () => {
  const state: SandboxState = {
    version: 1,
    createdAt: new Date().toISOString(),
    nodes: parseNodeSpec('2', { arch: 'amd64', os: 'linux' }),
    registry: { kind: 'docker', location: '127.0.0.1:5999', port: 5999 },
    apiserverPort: 6443,
    natsPort: 4999,
    controllerMetricsPort: 9999,
  };

  it('keeps what the first up decided, for a resume', () => {
    const sd = new StateDir(join(tmp, 'a'));
    sd.ensure();
    expect(sd.readState()).toBeUndefined();
    sd.writeState(state);
    expect(new StateDir(join(tmp, 'a')).readState()).toEqual(state);
  });

  it('refuses a corrupt or foreign state file, saying how to recover', () => {
    const sd = new StateDir(join(tmp, 'b'));
    sd.ensure();
    writeFileSync(sd.stateFile, '{not json');
    expect(codeOf(() => sd.readState())).toBe('SANDBOX_STATE_INVALID');
    writeFileSync(sd.stateFile, JSON.stringify({ version: 7 }));
    expect(() => sd.readState()).toThrow(/remove the state dir/);
  });

  it('one launcher per state dir; a record left by a dead launcher is cleared', async () => {
    const sd = new StateDir(join(tmp, 'c'));
    sd.ensure();
    // a live process that is not us holds the dir
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    const rec = (pid: number) => ({ pid, startedAt: '', apiserverUrl: '', natsUrl: '', registry: '', children: [] });
    try {
      sd.claim(rec(other.pid!));
      expect(codeOf(() => sd.claim(rec(process.pid)))).toBe('SANDBOX_ALREADY_RUNNING');
      expect(sd.readRun()?.pid).toBe(other.pid);
    } finally {
      const gone = new Promise((r) => other.once('exit', r));
      other.kill('SIGKILL');
      await gone;
    }
    expect(isAlive(other.pid!)).toBe(false);
    expect(sd.readRun()).toBeUndefined();
    expect(existsSync(sd.runFile)).toBe(false);
    sd.claim(rec(process.pid));
    expect(sd.readRun()?.pid).toBe(process.pid);
    sd.release();
    expect(existsSync(sd.runFile)).toBe(false);
  });
});

describe('process supervision', () => {
  it('nats-server: starts on its port, logs to its file, serves, stops cleanly', async () => {
    const sd = new StateDir(join(tmp, 'nats'));
    sd.ensure();
    const port = await freePort();
    const nats = await startNatsServer({ dir: sd.natsDir, port, logFile: sd.log('nats') });
    try {
      expect(nats.url).toBe(`nats://127.0.0.1:${port}`);
      const nc = await natsConnect({ servers: nats.url });
      const sub = nc.subscribe('t.x', {
        callback: (_e, m) => {
          m.respond(new TextEncoder().encode('pong'));
        },
      });
      const reply = await nc.request('t.x', 'ping', { timeout: 2000 });
      expect(reply.string()).toBe('pong');
      sub.unsubscribe();
      await nc.close();
    } finally {
      await nats.process.stop();
    }
    expect(nats.process.running).toBe(false);
    expect(existsSync(sd.log('nats'))).toBe(true);
  });

  it('a NATS cluster with TLS (the sandbox default): tls:// URLs, routes joined over mutual TLS, a call crosses them; no CA, no connection', async () => {
    const sd = new StateDir(join(tmp, 'nats-tls'));
    sd.ensure();
    const tls = await issueNatsServerCert(await ensureBusCa(sd.busCaDir), join(sd.natsDir, 'tls'), ['localhost', '127.0.0.1']);
    const ports = [await freePort(), await freePort()];
    const cluster = await startNatsCluster({
      dir: sd.natsDir,
      ports,
      routePorts: [await freePort(), await freePort()],
      logFile: (i) => sd.log(`nats-${i}`),
      serverConfig: () => '',
      tls,
    });
    try {
      expect(cluster.urls).toEqual(ports.map((p) => `tls://127.0.0.1:${p}`));
      const [a, b] = [
        await natsConnect({ servers: cluster.urls[0], tls: { caFile: sd.natsCa } }),
        await natsConnect({ servers: cluster.urls[1], tls: { caFile: sd.natsCa } }),
      ];
      a.subscribe('t.x', {
        callback: (_e, m) => {
          m.respond(new TextEncoder().encode('pong'));
        },
      });
      await a.flush();
      // the route carries the subscription's interest: wait for it, as a caller retrying NO_RESPONDERS would
      let reply: string | undefined;
      while (!reply) reply = (await b.request('t.x', 'ping', { timeout: 2000 }).catch(() => undefined))?.string();
      expect(reply).toBe('pong');
      await Promise.all([a.close(), b.close()]);
      await expect(natsConnect({ servers: cluster.urls[0], maxReconnectAttempts: 0 })).rejects.toThrow(/certificate|issuer/i);
    } finally {
      await Promise.all(cluster.processes.map((p) => p.stop()));
    }
  });

  it('docker-registry: serves the OCI distribution API from the state dir', async () => {
    const sd = new StateDir(join(tmp, 'reg'));
    sd.ensure();
    const port = await freePort();
    const reg = await startRegistry({ kind: chooseRegistryKind('docker'), dir: sd.registryDir, port, logFile: sd.log('registry') });
    try {
      expect(reg.refFor('examples/echo')).toBe(`127.0.0.1:${port}/examples/echo`);
      expect(reg.plainHttp).toEqual([`127.0.0.1:${port}`]);
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      expect(res.status).toBe(200);
    } finally {
      await reg.process!.stop();
    }
    expect(reg.process!.running).toBe(false);
  });

  it('oci-layout needs no process; a bad --registry is a usage error', async () => {
    const reg = await startRegistry({ kind: 'oci-layout', dir: join(tmp, 'layout'), logFile: join(tmp, 'unused.log') });
    expect(reg.refFor('examples/echo')).toBe(`oci-layout:${join(tmp, 'layout', 'layout', 'examples/echo')}`);
    expect(reg.process).toBeUndefined();
    let err: SandboxError | undefined;
    try {
      chooseRegistryKind('s3');
    } catch (e) {
      err = e as SandboxError;
    }
    expect([err?.code, exitStatus(err)]).toEqual(['SANDBOX_BAD_REGISTRY_KIND', 2]);
  });

  it('a bad --nats-servers or --controllers is a usage error, refused before anything is created', async () => {
    for (const [opts, flag] of [
      [{ natsServers: 0 }, '--nats-servers'],
      [{ natsServers: Number.NaN }, '--nats-servers'],
      [{ controllers: 10 }, '--controllers'],
    ] as const) {
      const dir = join(tmp, `bad-count-${flag}-${String(Object.values(opts)[0])}`);
      let err: SandboxError | undefined;
      try {
        await startSandbox({ stateDir: dir, ...opts });
      } catch (e) {
        err = e as SandboxError;
      }
      expect([err?.code, exitStatus(err), err?.message.includes(flag)]).toEqual(['SANDBOX_BAD_COUNT', 2, true]);
      expect(existsSync(dir)).toBe(false);
    }
  });

  it('reports an exit nobody asked for, with the log tail; a failed start names the process', async () => {
    const log = join(tmp, 'crash.log');
    const exits: (number | null)[] = [];
    const p = new ManagedProcess({
      name: 'crasher',
      command: process.execPath,
      args: ['-e', 'console.error("about to fail"); setTimeout(() => process.exit(7), 300)'],
      logFile: log,
      onUnexpectedExit: (_p, code) => exits.push(code),
    });
    await p.start();
    for (let i = 0; i < 50 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual([7]);
    expect(readFileSync(log, 'utf8')).toContain('about to fail');

    const never = new ManagedProcess({
      name: 'no-port',
      command: process.execPath,
      args: ['-e', 'console.error("boom"); process.exit(3)'],
      logFile: join(tmp, 'np.log'),
      port: await freePort(),
    });
    await expect(never.start()).rejects.toThrow(/no-port exited during start[\s\S]*boom/);
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const p = new ManagedProcess({
      name: 'stubborn',
      command: process.execPath,
      args: ['-e', 'process.on("SIGTERM", () => console.error("ignoring SIGTERM")); console.error("armed"); setInterval(() => {}, 1000)'],
      logFile: join(tmp, 'stubborn.log'),
      // started = the SIGTERM handler is installed, so stop() really has to escalate
      ready: async () => readFileSync(join(tmp, 'stubborn.log'), 'utf8').includes('armed'),
      stopGraceMs: 300,
    });
    await p.start();
    const pid = p.pid!;
    await p.stop();
    expect(p.running).toBe(false);
    expect(isAlive(pid)).toBe(false);
    expect(readFileSync(join(tmp, 'stubborn.log'), 'utf8')).toContain('ignoring SIGTERM');
  });
});

describe('example manifests', () => {
  it('only files naming the sandbox registry are applied, with the placeholder filled in', () => {
    const dir = join(tmp, 'examples');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'a-sandbox.yaml'),
      'apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: a}\nspec:\n  archive: {ref: "${SANDBOX_REGISTRY}/examples/echo"}\n---\n# empty document\n',
    );
    writeFileSync(
      join(dir, 'b-cluster.yaml'),
      'apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: b}\nspec:\n  archive: {ref: registry.example/x}\n',
    );
    writeFileSync(join(dir, 'notes.txt'), '${SANDBOX_REGISTRY}');
    const files = sandboxExampleFiles(dir);
    expect(files).toEqual([join(dir, 'a-sandbox.yaml')]);
    const objs = readYamlObjects(files, { [REGISTRY_PLACEHOLDER]: '127.0.0.1:5999' });
    expect(objs).toHaveLength(1);
    expect(objs[0].spec.archive.ref).toBe('127.0.0.1:5999/examples/echo');
    expect(objectPath(objs[0], false)).toBe('/apis/gantry.dev/v1alpha1/namespaces/default/providers');
    expect(objectPath({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } })).toBe('/api/v1/nodes/n1');
    expect(() => objectPath({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } })).toThrow(/does not apply Deployment/);
  });

  it('defaults: one Provider per published archive, following its highest revision', () => {
    const ps = defaultExampleProviders([{ name: 'echo', ref: '127.0.0.1:1/examples/echo', capid: 'gantry:echo' }]);
    expect(ps).toEqual([
      {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'Provider',
        metadata: { name: 'echo', namespace: 'default' },
        spec: { archive: { ref: '127.0.0.1:1/examples/echo' }, replicas: 1, capabilityId: 'gantry:echo' },
      },
    ]);
  });
});
