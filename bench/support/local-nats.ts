/**
 * A plain nats-server (the Debian package) on a free loopback port with its config in a temp
 * dir, for the benches that call providers; `extraConfig(dir)` adds to the listen line (the
 * membrane's operator-mode fragment, its resolver dir below `dir`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireExecutable, waitForPort } from '../../runtime/host.js';

export interface BenchNats {
  url: string;
  port: number;
  /** A scratch dir (the config lives in it), removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export async function startBenchNats(prefix: string, extraConfig: (dir: string) => string = () => ''): Promise<BenchNats> {
  const bin = requireExecutable('nats-server', 'nats-server');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\n${extraConfig(dir)}`);
  const proc = spawn(bin, ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' });
  await waitForPort(port, '127.0.0.1', 10_000);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    stop: async () => {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
