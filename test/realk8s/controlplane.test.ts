/**
 * sandbox/controlplane on its own: etcd + kube-apiserver come up on loopback with TLS and
 * RBAC, refuse requests without a valid token, hand out ServiceAccount tokens that RBAC
 * confines, and stop leaving no process and no directory behind.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { controlPlaneRequest, startControlPlane } from '../../sandbox/controlplane/index.js';
import { controlPlaneAvailable, realKubectl } from '../support/apiserver.js';

const run = promisify(execFile);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!controlPlaneAvailable())('real control plane (etcd + kube-apiserver + kube-scheduler)', () => {
  it('serves TLS with RBAC and token auth, confines a ServiceAccount, and stops without leftovers', async () => {
    const cp = await startControlPlane({ scheduler: true });
    let pids: Record<string, number> = {};
    try {
      pids = cp.pids();
      expect(Object.keys(pids).sort()).toEqual(['etcd', 'kube-apiserver', 'kube-scheduler']);
      expect(cp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const livez = (await run(realKubectl(), ['--kubeconfig', cp.kubeconfigPath, 'get', '--raw', '/livez?verbose'])).stdout;
      expect(livez).toContain('[+]etcd ok');
      expect((await run(realKubectl(), ['--kubeconfig', cp.kubeconfigPath, 'version', '-o', 'json'])).stdout).toContain(
        '"gitVersion": "v1.',
      );
      // no token is system:anonymous, whom RBAC gives nothing (as on a kubeadm cluster); a wrong
      // token is 401; a TLS client that does not trust the plane's CA is refused
      const anon = await controlPlaneRequest(`${cp.url}/api/v1/namespaces`, { caPem: cp.caPem });
      expect(anon.status).toBe(403);
      expect(JSON.parse(anon.body).message).toContain('User "system:anonymous" cannot list resource "namespaces"');
      expect((await controlPlaneRequest(`${cp.url}/api/v1/namespaces`, { caPem: cp.caPem, token: 'not-a-token' })).status).toBe(401);
      await expect(controlPlaneRequest(`${cp.url}/readyz`, {})).rejects.toThrow(/self.signed|certificate|unable to verify/i);
      // a ServiceAccount with no bindings may not even list namespaces
      const sa = await cp.serviceAccountKubeconfig('default', 'nobody');
      const who = JSON.parse((await run(realKubectl(), ['--kubeconfig', sa.path, 'auth', 'whoami', '-o', 'json'])).stdout);
      expect(who.status.userInfo.username).toBe('system:serviceaccount:default:nobody');
      const denied = await controlPlaneRequest(`${cp.url}/api/v1/namespaces`, { caPem: cp.caPem, token: sa.token });
      expect(denied.status).toBe(403);
      expect(JSON.parse(denied.body).message).toContain('User "system:serviceaccount:default:nobody" cannot list resource "namespaces"');
    } finally {
      await cp.stop();
    }
    for (const [name, pid] of Object.entries(pids)) expect(alive(pid), `${name} (pid ${pid}) still running`).toBe(false);
    expect(existsSync(cp.dir)).toBe(false);
  });
});
