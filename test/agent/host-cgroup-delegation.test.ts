/**
 * The deployment's delegation, tested on this machine's kernel: scripts/host-cgroup.sh (run
 * as root on the node) makes a cgroup v1 memory directory with a node-wide cap and hands only
 * the directory to uid 65532. The agent's own cgroup code, run as uid 65532 with every
 * capability dropped and no_new_privs (as deploy/base runs the agent), can then make a host's
 * child cgroup, limit it and move its own child process into it; it cannot raise the node cap,
 * move a process of another user, or join the directory itself. The cluster-level wiring (the
 * DaemonSet's hostPath volume) is deploy/components/host-cgroup.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../runtime/paths.js';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const usable = process.getuid?.() === 0 && existsSync(join(MEMORY_ROOT, 'memory.limit_in_bytes')) && hasSetpriv;
const script = join(packageRoot(), 'scripts', 'host-cgroup.sh');
const dir = join(MEMORY_ROOT, `gantry-delegation-test-${process.pid}`);
const NODE_CAP = 512 * 2 ** 20;
let scratch: string;

// What the unprivileged agent tries, with the agent's own module (dist/, built by `npm test`).
const AS_AGENT = `
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const [moduleUrl, dir] = process.argv.slice(2);
const { MemoryCgroupParent } = await import(moduleUrl);
const out = { uid: process.getuid(), capEff: /^CapEff:\\s+(\\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1] };
const parent = MemoryCgroupParent.open(dir, 'node-d');
const host = spawn('sleep', ['30'], { stdio: 'ignore' });
const cg = parent.place('default', 'deleg-0', host.pid, 64 * 2 ** 20);
out.hostCgroup = /^\\d+:memory:(.*)$/m.exec(readFileSync('/proc/' + host.pid + '/cgroup', 'utf8'))[1];
out.hostLimit = readFileSync(cg.path + '/memory.limit_in_bytes', 'utf8').trim();
const attempt = (f) => { try { f(); return 'allowed'; } catch (e) { return e.code ?? e.message; } };
out.raiseNodeCap = attempt(() => writeFileSync(dir + '/memory.limit_in_bytes', String(2 ** 40)));
out.joinNodeDir = attempt(() => writeFileSync(dir + '/cgroup.procs', String(process.pid)));
out.moveForeign = attempt(() => parent.place('default', 'foreign-0', 1, 64 * 2 ** 20));
try { parent.place('default', 'foreign-0', 1, 64 * 2 ** 20); } catch (e) { out.moveForeignWhy = e.message; }
host.kill('SIGKILL');
await new Promise((r) => host.once('exit', r));
await cg.remove();
out.removed = !existsSync(cg.path);
console.log(JSON.stringify(out));
`;

beforeAll(() => {
  if (!usable) return;
  execFileSync(script, ['create', '--dir', dir, '--limit', String(NODE_CAP)], { stdio: 'pipe' });
  // the unprivileged user cannot reach this node binary under /root: a link (or copy) it can run
  scratch = mkdtempSync(join(tmpdir(), 'gantry-delegation-'));
  chmodSync(scratch, 0o755);
  try {
    linkSync(process.execPath, join(scratch, 'node'));
  } catch {
    copyFileSync(process.execPath, join(scratch, 'node'));
  }
  writeFileSync(join(scratch, 'as-agent.mjs'), AS_AGENT);
});

afterAll(() => {
  if (!usable) return;
  execFileSync(script, ['remove', '--dir', dir], { stdio: 'pipe' });
  rmSync(scratch, { recursive: true, force: true });
});

it.skipIf(!usable)('an agent as uid 65532 without capabilities caps its own hosts in the delegated directory, and nothing more', () => {
  // the node side: the directory is the agent's, its limit files root's, the node cap set
  expect(execFileSync('stat', ['-c', '%u %a', dir], { encoding: 'utf8' }).trim()).toBe('65532 755');
  expect(execFileSync('stat', ['-c', '%u', join(dir, 'memory.limit_in_bytes')], { encoding: 'utf8' }).trim()).toBe('0');
  expect(readFileSync(join(dir, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(NODE_CAP));

  const moduleUrl = `file://${join(packageRoot(), 'dist', 'agent', 'host', 'memory-cgroup-dir.js')}`;
  const r = spawnSync(
    'setpriv',
    [
      ...['--reuid', '65532', '--regid', '65532', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'],
      join(scratch, 'node'),
      join(scratch, 'as-agent.mjs'),
      moduleUrl,
      dir,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout);
  const name = `gantry-delegation-test-${process.pid}`;
  expect(out).toEqual({
    uid: 65532,
    capEff: '0000000000000000',
    // its own host: placed and limited
    hostCgroup: expect.stringMatching(new RegExp(`^/${name}/node-d_default_deleg-0_\\d+$`)),
    hostLimit: String(64 * 2 ** 20),
    // the node cap and the directory itself stay root's
    raiseNodeCap: 'EACCES',
    joinNodeDir: 'EACCES',
    // another user's process (pid 1) cannot be moved in: the kernel refuses, the host is not run
    moveForeign: 'MEMORY_CGROUP_FAILED',
    moveForeignWhy: expect.stringMatching(/^cannot limit the host of default\/foreign-0 \(pid 1\) in memory cgroup \S+: EACCES/),
    removed: true,
  });
});

it('the host-cgroup component mounts exactly the directory scripts/host-cgroup.sh prepares, and nothing else of the cgroup tree, into the unprivileged host keeper', () => {
  const read = (...p: string[]) => parseAllDocuments(readFileSync(join(packageRoot(), 'deploy', ...p), 'utf8')).map((d) => d.toJSON());
  // the hosts run in the keeper's pod (deploy/base/host-keeper.yaml): it is the one that caps them
  const component = read('components', 'host-cgroup', 'keeper-host-cgroup.yaml')[0];
  expect(component.metadata.name).toBe('gantry-host-keeper');
  const patch = component.spec.template.spec;
  const base = read('base', 'host-keeper.yaml').find((d) => d?.kind === 'DaemonSet').spec.template.spec;
  const agent = patch.containers.find((c: { name: string }) => c.name === 'keeper');
  const baseAgent = base.containers.find((c: { name: string }) => c.name === 'keeper');
  const scriptDefault = /^dir=(\S+)$/m.exec(readFileSync(script, 'utf8'))?.[1];
  const cgroupVolumes = patch.volumes.filter((v: { hostPath?: { path: string } }) => v.hostPath?.path.startsWith('/sys'));
  expect(cgroupVolumes).toEqual([{ name: 'host-cgroup', hostPath: { path: scriptDefault, type: 'Directory' } }]);
  const env = agent.env.find((e: { name: string }) => e.name === 'GANTRY_HOST_CGROUP');
  expect(agent.volumeMounts.filter((m: { name: string }) => m.name === 'host-cgroup')).toEqual([
    { name: 'host-cgroup', mountPath: env.value },
  ]);
  // the base the component patches: no cgroup mount of its own, unprivileged, uid 65532
  expect(base.volumes.filter((v: { hostPath?: { path: string } }) => v.hostPath?.path.startsWith('/sys'))).toEqual([]);
  expect(baseAgent.securityContext.capabilities).toEqual({ drop: ['ALL'] });
  expect(base.securityContext.runAsUser).toBe(65532);
  expect(/^uid=(\d+)$/m.exec(readFileSync(script, 'utf8'))?.[1]).toBe('65532');
});
