/**
 * `gantry sandbox apiserver` as a user runs it: a child process from dist/, a kubeconfig in
 * the state directory that client-node accepts, a clean stop on SIGTERM, and objects, token
 * and CA that survive a restart on the same state directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { gantryBin } from '../../runtime/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-apiserver-cli-'));
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function launch(): Promise<{ child: ReturnType<typeof spawn>; url: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [gantryBin(), 'sandbox', 'apiserver', '--port', '0', '--state-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let out = '',
    err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`apiserver did not start: ${err}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (https:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`apiserver exited ${code}: ${err}`));
    });
  });
  return { child, url, exited };
}

function client(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
  return kc;
}

describe('gantry sandbox apiserver', () => {
  it('serves the kubeconfig it writes, stops on SIGTERM and keeps state across restarts', async () => {
    const first = await launch();
    const kc = client();
    expect(kc.getCurrentCluster()?.server).toBe(first.url);
    const v = await kc.makeApiClient(VersionApi).getCode();
    expect(v.gitVersion).toMatch(/^v1\.\d+/);
    const created = await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'survivor' }, data: { a: 'b' } } });
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await launch();
    const kc2 = client();
    expect(kc2.getCurrentUser()?.token).toBe(kc.getCurrentUser()?.token);
    const again = await kc2.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'survivor', namespace: 'default' });
    expect(again.metadata?.uid).toBe(created.metadata?.uid);
    expect(again.data).toEqual({ a: 'b' });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('rejects a bad --port with a usage error', () => {
    const r = spawnSync(process.execPath, [gantryBin(), 'sandbox', 'apiserver', '--port', 'abc', '--state-dir', dir], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--port must be an integer between 0 and 65535, got "abc"');
  });
});
