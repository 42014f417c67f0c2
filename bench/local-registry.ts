/**
 * A plain docker-registry (the Debian package) on a free loopback port with filesystem storage
 * in a temp dir, for the benches that push and pull (no auth, no TLS: what is measured is our
 * client, not the registry's front door).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireExecutable, waitForPort } from '../runtime/host.js';

export interface BenchRegistry {
  /** HOST:PORT */
  host: string;
  /** A scratch dir (the storage lives below it), removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export async function startBenchRegistry(prefix: string): Promise<BenchRegistry> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/storage\nhttp:\n  addr: ${host}\n`,
  );
  const reg = spawn(requireExecutable('docker-registry', 'docker-registry'), ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (reg.exitCode === null && reg.signalCode === null) {
      const exited = new Promise((r) => reg.once('exit', r));
      reg.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port);
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, dir, stop };
}
