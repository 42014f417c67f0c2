/**
 * The delegation inside a real runc container set up as deploy/base runs the agent (short of a
 * kubelet): uid 65532, no capabilities, no_new_privs, read-only root, its own cgroup, the
 * cgroup tree mounted read-only by runc, and exactly the directory scripts/host-cgroup.sh
 * prepared bind-mounted read-write at /run/gantry/host-cgroup (the hostPath volume). The
 * agent's cgroup module, run there, caps a child process of its own in a child cgroup; the
 * cgroup tree and the node cap stay out of its reach. The container's root is a directory of
 * hard links (node and the few libraries it and `sleep` need), no image is pulled.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';
const RUNC = '/usr/sbin/runc';
const usable = process.getuid?.() === 0 && existsSync(join(MEMORY_ROOT, 'memory.limit_in_bytes')) && existsSync(RUNC);
const script = join(packageRoot(), 'scripts', 'host-cgroup.sh');
const dir = join(MEMORY_ROOT, `gantry-container-test-${process.pid}`);
const id = `gantry-cgroup-test-${process.pid}`;
let scratch: string;

const AS_AGENT = `
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const { MemoryCgroupParent } = await import('/dist/agent/host/memory-cgroup-dir.js');
const dir = '/run/gantry/host-cgroup';
const memoryCgroup = (pid) => /^\\d+:memory:(.*)$/m.exec(readFileSync('/proc/' + pid + '/cgroup', 'utf8'))[1];
const attempt = (f) => { try { f(); return 'allowed'; } catch (e) { return e.code ?? e.message; } };
const out = { uid: process.getuid(), capEff: /^CapEff:\\s+(\\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1], own: memoryCgroup('self') };
out.writeCgroupTree = attempt(() => writeFileSync('/sys/fs/cgroup/memory/memory.limit_in_bytes', String(2 ** 40)));
const parent = MemoryCgroupParent.open(dir, 'node-c');
const host = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
const cg = parent.place('default', 'pod-0', host.pid, 64 * 2 ** 20);
out.host = memoryCgroup(host.pid);
out.hostLimit = readFileSync(cg.path + '/memory.limit_in_bytes', 'utf8').trim();
out.raiseNodeCap = attempt(() => writeFileSync(dir + '/memory.limit_in_bytes', String(2 ** 40)));
host.kill('SIGKILL');
await new Promise((r) => host.once('exit', r));
await cg.remove();
out.removed = !existsSync(cg.path);
console.log(JSON.stringify(out));
`;

/** Hard-link (or copy) a host file into the container's root at `as` (symlinks followed: a link to a link would dangle there). */
function place(root: string, file: string, as = file): void {
  const to = join(root, as);
  mkdirSync(dirname(to), { recursive: true });
  try {
    linkSync(realpathSync(file), to);
  } catch {
    copyFileSync(file, to);
  }
}

/** The shared libraries `bin` loads, from ldd. */
const libraries = (bin: string) =>
  [...execFileSync('ldd', [bin], { encoding: 'utf8' }).matchAll(/(\/\S+\.so[.\d]*) \(0x/g)].map((m) => m[1]);

function bundle(): string {
  const root = join(scratch, 'rootfs');
  const sleep = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
  for (const bin of [process.execPath, sleep]) for (const lib of libraries(bin)) if (!existsSync(join(root, lib))) place(root, lib);
  place(root, process.execPath, '/bin/node');
  place(root, sleep, '/bin/sleep');
  writeFileSync(join(root, 'as-agent.mjs'), AS_AGENT);
  execFileSync('chmod', ['-R', 'a+rX', root]);
  // runc's default spec, made into the agent's container
  execFileSync(RUNC, ['spec', '--bundle', scratch]);
  const spec = JSON.parse(execFileSync('cat', [join(scratch, 'config.json')], { encoding: 'utf8' }));
  spec.root = { path: root, readonly: true };
  spec.process.terminal = false;
  spec.process.user = { uid: 65532, gid: 65532 };
  spec.process.args = ['/bin/node', '/as-agent.mjs'];
  spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  spec.process.noNewPrivileges = true;
  delete spec.process.rlimits; // no CAP_SYS_RESOURCE here: the agent inherits the runtime's
  spec.mounts = spec.mounts.filter((m: { destination: string }) => m.destination !== '/sys/fs/cgroup');
  spec.mounts.push(
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/run/gantry/host-cgroup', type: 'bind', source: dir, options: ['rbind', 'rw'] },
    { destination: '/dist', type: 'bind', source: join(packageRoot(), 'dist'), options: ['rbind', 'ro'] },
  );
  spec.linux.cgroupsPath = `/${id}`;
  writeFileSync(join(scratch, 'config.json'), JSON.stringify(spec));
  return scratch;
}

beforeAll(() => {
  if (!usable) return;
  execFileSync(script, ['create', '--dir', dir, '--limit', String(512 * 2 ** 20)], { stdio: 'pipe' });
  scratch = mkdtempSync(join(tmpdir(), 'gantry-cgroup-container-'));
  chmodSync(scratch, 0o755);
});

afterAll(() => {
  if (!usable) return;
  spawnSync(RUNC, ['--root', join(scratch, 'runc'), 'delete', '--force', id]);
  execFileSync(script, ['remove', '--dir', dir], { stdio: 'pipe' });
  rmSync(scratch, { recursive: true, force: true });
});

it.skipIf(!usable)(
  'in a runc container as deploy/base runs the agent, it caps its own host in the mounted directory, and reaches nothing else',
  () => {
    const r = spawnSync(RUNC, ['--root', join(scratch, 'runc'), 'run', '--bundle', bundle(), id], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const name = `gantry-container-test-${process.pid}`;
    expect(JSON.parse(r.stdout)).toEqual({
      uid: 65532,
      capEff: '0000000000000000',
      own: `/${id}`,
      // runc mounts the cgroup tree read-only: nothing of it is writable but the mounted directory
      writeCgroupTree: 'EROFS',
      host: expect.stringMatching(new RegExp(`^/${name}/node-c_default_pod-0_\\d+$`)),
      hostLimit: String(64 * 2 ** 20),
      raiseNodeCap: 'EACCES',
      removed: true,
    });
    // runc removed the container's own cgroup, the agent its host's
    expect(existsSync(join(MEMORY_ROOT, id))).toBe(false);
  },
);
