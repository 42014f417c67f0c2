import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin } from '../../runtime/paths.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { startCluster, waitFor, type Cluster } from './cluster.js';
import { parseDuration } from '../../cli/controller.js';

const run = promisify(execFile);

async function gantry(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(process.execPath, [gantryBin(), ...args], { timeout: 30_000 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('gantry controller', () => {
  let bare: TestApiServer;
  let c: Cluster;
  beforeAll(async () => {
    bare = await startTestApiServer();
    c = await startCluster();
  });
  afterAll(async () => {
    await bare?.stop();
    await c?.stop();
  });

  it('rejects bad flags with usage errors that name the flag', async () => {
    const a = await gantry(['controller', '--kubeconfig', c.controllerKubeconfigPath, '--trust-issuer', 'VNOTANACCOUNT']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--trust-issuer VNOTANACCOUNT');
    const b = await gantry(['controller', '--kubeconfig', c.controllerKubeconfigPath, '--agent-lease-grace', 'soon']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--agent-lease-grace "soon"');
    const d = await gantry(['controller', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('/nonexistent/kubeconfig does not exist');
    const e = await gantry([
      'controller',
      '--kubeconfig',
      c.controllerKubeconfigPath,
      '--leader-elect-lease-duration',
      '5s',
      '--leader-elect-renew-deadline',
      '10s',
    ]);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('--leader-elect-lease-duration > --leader-elect-renew-deadline > --leader-elect-retry-period');
    const kc = ['controller', '--kubeconfig', c.controllerKubeconfigPath];
    const i1 = await gantry([...kc, '--autoscale-interval', '10ms']);
    expect(i1.code).toBe(2);
    expect(i1.stderr).toContain('--autoscale-interval 10ms: at least 100ms');
    const i2 = await gantry([...kc, '--autoscale-interval', 'often']);
    expect(i2.code).toBe(2);
    expect(i2.stderr).toContain('--autoscale-interval "often"');
    const w = await gantry([...kc, '--autoscale-window', '1s']);
    expect(w.code).toBe(2);
    expect(w.stderr).toContain('--autoscale-window 1s: at least 2s (hosts report every second)');
    const n = await gantry([...kc, '--nats', 'nats://127.0.0.1:4222', '--membrane-keys', '/nonexistent/keys']);
    expect(n.code).toBe(2);
    expect(n.stderr).toContain('--nats is for a controller without the membrane');
    const l = await gantry(['controller', '--kubeconfig', c.controllerKubeconfigPath, '--grant-jwt-lifetime', '30s']);
    expect(l.code).toBe(2);
    expect(l.stderr).toContain('--grant-jwt-lifetime 30s: must be at least 1m');
    const l2 = await gantry(['controller', '--kubeconfig', c.controllerKubeconfigPath, '--grant-jwt-lifetime', 'forever']);
    expect(l2.code).toBe(2);
    expect(l2.stderr).toContain('--grant-jwt-lifetime "forever"');
    // checked before the API is asked anything: this server has no CRDs, which would exit 1
    const m = await gantry(['controller', '--kubeconfig', bare.kubeconfigPath, '--metrics-addr', '127.0.0.1:']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('--metrics-addr 127.0.0.1:: expected HOST:PORT');
    expect(parseDuration('1500ms', 'x')).toBe(1500);
    expect(parseDuration('2m', 'x')).toBe(120_000);
    expect(parseDuration('20', 'x')).toBe(20_000);
  });

  it('refuses a half-given or unusable external metrics API setup, naming the flag or the missing CA', async () => {
    const kc = ['controller', '--kubeconfig', c.controllerKubeconfigPath];
    const noCert = await gantry([...kc, '--metrics-api-addr', '127.0.0.1:0']);
    expect([noCert.code, noCert.stderr]).toEqual([
      2,
      expect.stringContaining('--metrics-api-addr needs --metrics-api-tls-cert and --metrics-api-tls-key'),
    ]);
    const noAddr = await gantry([...kc, '--metrics-api-tls-cert', '/x.crt']);
    expect([noAddr.code, noAddr.stderr]).toEqual([2, expect.stringContaining('--requestheader-* need --metrics-api-addr')]);
    const tls = ['--metrics-api-tls-cert', '/nonexistent/tls.crt', '--metrics-api-tls-key', '/nonexistent/tls.key'];
    const names = await gantry([...kc, '--metrics-api-addr', '127.0.0.1:0', ...tls, '--requestheader-allowed-names', 'front-proxy-client']);
    expect([names.code, names.stderr]).toEqual([
      2,
      expect.stringContaining('--requestheader-allowed-names needs --requestheader-client-ca'),
    ]);
    // checked before the API is asked anything: this server has no CRDs, which would exit 1
    const addr = await gantry(['controller', '--kubeconfig', bare.kubeconfigPath, '--metrics-api-addr', '127.0.0.1:', ...tls]);
    expect([addr.code, addr.stderr]).toEqual([2, expect.stringContaining('--metrics-api-addr 127.0.0.1:: expected HOST:PORT')]);
    const missing = await gantry([...kc, '--metrics-api-addr', '127.0.0.1:0', ...tls]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('--metrics-api-tls-cert /nonexistent/tls.crt: ENOENT')]);
  });

  it('says the cluster has no aggregation layer (or no right to read its CA) instead of serving metrics nobody can authenticate to', async () => {
    const { ensureCa, ensureLeaf } = await import('../../sandbox/controlplane/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'gantry-cli-metrics-api-'));
    try {
      const ca = await ensureCa(dir, 'ca', 'ca');
      const leaf = await ensureLeaf(dir, 'tls', ca, { cn: 'gantry-metrics-api', usage: 'serverAuth', ips: ['127.0.0.1'] });
      const r = await gantry([
        'controller',
        '--kubeconfig',
        c.controllerKubeconfigPath,
        '--metrics-api-addr',
        '127.0.0.1:0',
        '--metrics-api-tls-cert',
        leaf.cert,
        '--metrics-api-tls-key',
        leaf.key,
      ]);
      expect(r.code).toBe(1);
      // the emulator has no such ConfigMap; on the real server deploy/base alone does not let the controller read it
      expect(r.stderr).toContain('cannot read kube-system/extension-apiserver-authentication');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says the CRDs are missing instead of hanging', async () => {
    const r = await gantry(['controller', '--kubeconfig', bare.kubeconfigPath]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CRDs (gantry.dev/v1alpha1) are not installed');
  });

  it('serves /healthz, /readyz and /metrics, becomes leader, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        gantryBin(),
        'controller',
        '--kubeconfig',
        c.controllerKubeconfigPath,
        '--metrics-addr',
        '127.0.0.1:0',
        '--leader-elect-lease-duration',
        '7s',
        '--leader-elect-renew-deadline',
        '5s',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const url = await waitFor('metrics address', async () => /metrics (http:\/\/\S+)\/metrics/.exec(stderr)?.[1], 20_000);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const text = await waitFor(
        'leader',
        async () => {
          const t = await (await fetch(`${url}/metrics`)).text();
          return /^gantry_controller_is_leader 1$/m.test(t) && t;
        },
        10_000,
      );
      expect(text).toContain('gantry_controller_placements_total');
      expect(text).toContain('gantry_controller_reconcile_duration_seconds');
      // leader election went through the counted client
      expect(text).toMatch(/^gantry_controller_api_requests_total\{method="GET",resource="leases"\} [1-9]/m);
      const lease = await c.client.get('/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-controller');
      expect(lease.spec.holderIdentity).toBeTruthy();
      expect(lease.spec.leaseDurationSeconds).toBe(7);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    // a graceful stop releases the leader Lease
    const lease = await c.client.get('/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-controller');
    expect(lease.spec.holderIdentity).toBe('');
  });
});
