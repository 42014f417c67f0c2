/**
 * Talking to kube-apiserver without a Kubernetes client: one HTTPS request with the plane's CA
 * pinned and a bearer token, the readiness probe, and ServiceAccount tokens from the
 * TokenRequest API (for kubeconfigs that carry exactly what RBAC grants).
 */
import { request } from 'node:https';
import type { ControlPlanePki } from './pki.js';
import { ControlPlaneError } from './errors.js';

/** GET/POST with the CA pinned and a bearer token; resolves with status and body. */
export function controlPlaneRequest(
  url: string,
  opts: { caPem?: string; insecure?: boolean; token?: string; method?: string; body?: unknown; timeoutMs?: number },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        ca: opts.caPem,
        rejectUnauthorized: !opts.insecure,
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
          accept: 'application/json',
        },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.once('error', reject);
    req.end(data);
  });
}

/** True once kube-apiserver answers /readyz 200 to the admin. */
export async function apiserverReady(url: string, pki: Pick<ControlPlanePki, 'caPem' | 'token'>): Promise<boolean> {
  return (
    (await controlPlaneRequest(`${url}/readyz`, { caPem: pki.caPem, token: pki.token, timeoutMs: 5000 }).catch(() => ({ status: 0 })))
      .status === 200
  );
}

export interface ServiceAccountTokenOptions {
  /**
   * Bind the token to this Node object (TokenRequest boundObjectRef, as a node agent's token is
   * bound to its node): the API server then puts `authentication.kubernetes.io/node-name` in the
   * user's extra, which deploy/base/admission-agent.yaml keys on. The Node must exist; the token
   * stops working when it is deleted.
   */
  boundNode?: string;
  expirationSeconds?: number;
}

/**
 * A kubeconfig for a ServiceAccount with a token from the TokenRequest API (the ServiceAccount
 * and its namespace are created when missing). It can do exactly what RBAC grants
 * `system:serviceaccount:<namespace>:<name>`.
 */
export async function serviceAccountToken(
  url: string,
  pki: Pick<ControlPlanePki, 'caPem' | 'token'>,
  namespace: string,
  name: string,
  opts: ServiceAccountTokenOptions = {},
): Promise<string> {
  const expirationSeconds = opts.expirationSeconds ?? 7 * 24 * 3600;
  const request = (path: string, method = 'GET', body?: unknown) =>
    controlPlaneRequest(url + path, { caPem: pki.caPem, token: pki.token, method, body });
  const ns = await request(`/api/v1/namespaces/${namespace}`);
  if (ns.status === 404)
    await request('/api/v1/namespaces', 'POST', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const sa = await request(`/api/v1/namespaces/${namespace}/serviceaccounts`, 'POST', {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name },
  });
  if (sa.status !== 201 && sa.status !== 409)
    throw new ControlPlaneError(
      'CONTROL_PLANE_REQUEST_FAILED',
      `creating ServiceAccount ${namespace}/${name}: HTTP ${sa.status} ${sa.body}`,
    );
  let boundObjectRef: { kind: 'Node'; apiVersion: 'v1'; name: string; uid: string } | undefined;
  if (opts.boundNode) {
    const node = await request(`/api/v1/nodes/${encodeURIComponent(opts.boundNode)}`);
    if (node.status !== 200)
      throw new ControlPlaneError(
        'CONTROL_PLANE_REQUEST_FAILED',
        `a token bound to Node ${opts.boundNode}: the Node must exist (HTTP ${node.status} ${node.body})`,
      );
    boundObjectRef = { kind: 'Node', apiVersion: 'v1', name: opts.boundNode, uid: JSON.parse(node.body).metadata.uid };
  }
  const tr = await request(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, 'POST', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds, ...(boundObjectRef ? { boundObjectRef } : {}) },
  });
  if (tr.status !== 201)
    throw new ControlPlaneError(
      'CONTROL_PLANE_REQUEST_FAILED',
      `TokenRequest for ServiceAccount ${namespace}/${name}: HTTP ${tr.status} ${tr.body}`,
    );
  return JSON.parse(tr.body).status.token as string;
}
