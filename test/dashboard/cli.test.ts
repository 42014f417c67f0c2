/**
 * `gantry dashboard` as a user runs it (the built CLI as a process, against the API emulator):
 * it prints its URL and serves until SIGTERM; every bad start says what is wrong (exit 2).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gantryBin } from '../../runtime/paths.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { gantryIn } from '../support/gantry-cli.js';

let api: TestApiServer;
let home: string;

beforeAll(async () => {
  api = await startTestApiServer({ ground: 'emulated' });
  home = mkdtempSync(join(tmpdir(), 'gantry-dashboard-cli-'));
});
afterAll(async () => {
  await api?.stop();
  rmSync(home, { recursive: true, force: true });
});

/** The CLI with no $KUBECONFIG and no sandbox to fall back on. */
const run = (args: string[]) => {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, GANTRY_SANDBOX_DIR: process.env.GANTRY_SANDBOX_DIR };
  process.env.KUBECONFIG = '';
  process.env.GANTRY_SANDBOX_DIR = join(home, 'no-sandbox');
  try {
    return gantryIn(home, home, ['dashboard', ...args], 30_000);
  } finally {
    Object.assign(process.env, saved);
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  }
};

describe('gantry dashboard', () => {
  it('prints its URL, serves the state as the kubeconfig user, and stops cleanly on SIGTERM', async () => {
    const p = spawn(
      process.execPath,
      [gantryBin(), 'dashboard', '--port', '0', '--kubeconfig', api.kubeconfigPath, '--metrics', 'http://127.0.0.1:9/metrics'],
      {
        cwd: home,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, GANTRY_LOG_LEVEL: 'error', HOME: home },
      },
    );
    let stdout = '';
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => p.on('close', r));
    const url = await new Promise<string>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        stdout += d;
        const m = /^(http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      exited.then(() => reject(new Error(`exited early: ${stderr}`)));
    });
    try {
      const s = (await (await fetch(`${url}api/state`)).json()) as { cluster: { server: string }; unavailable: { part: string }[] };
      expect(s.cluster.server).toBe(api.url);
      expect(s.unavailable.map((u: { part: string }) => u.part)).toEqual(expect.arrayContaining(['providers']));
      expect(stderr).toContain(`serving ${url}`);
    } finally {
      p.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('no kubeconfig anywhere: says where it looked (exit 2)', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no kubeconfig: pass --kubeconfig FILE, set $KUBECONFIG, or start a local sandbox');
  });

  it('a kubeconfig that does not exist is named (exit 2)', async () => {
    const r = await run(['--kubeconfig', join(home, 'nope.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`kubeconfig ${join(home, 'nope.yaml')} does not exist`);
  });

  it('a port in use is named (exit 2)', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = await run(['--kubeconfig', api.kubeconfigPath, '--port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
    } finally {
      taken.close();
    }
  });

  it('bad --port and --metrics values are named (exit 2)', async () => {
    for (const [args, says] of [
      [['--port', '70000'], '--port "70000"'],
      [['--port', 'http'], '--port "http"'],
      [['--metrics', 'file:///etc/passwd'], '--metrics "file:///etc/passwd"'],
    ] as const) {
      const r = await run(['--kubeconfig', api.kubeconfigPath, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(says);
    }
  });
});
