/**
 * A real Kubernetes control plane on loopback, envtest/kwok-style: etcd and kube-apiserver
 * (and, when asked, kube-scheduler) started as plain processes from the binaries that
 * scripts/control-plane.sh builds. No kubelet and no kube-controller-manager: Nodes are plain
 * objects, and Gantry's agents are the node side.
 *
 *   const cp = await startControlPlane();              // temp dir, free ports
 *   cp.kubeconfigPath                                  // cluster admin (system:masters)
 *   const sa = await cp.serviceAccountKubeconfig('gantry-system', 'gantry-agent');
 *   await cp.stop();                                   // processes gone, temp dir removed
 *
 * kube-apiserver runs with TLS (a CA made here, so the kubeconfig trusts exactly it), RBAC,
 * token-file auth for the admin and a service-account signing key, so ServiceAccount tokens
 * from the TokenRequest API authenticate as `system:serviceaccount:<ns>:<name>` and get
 * exactly what RoleBindings grant. Admission plugins that need controllers this setup does not
 * run are off: ServiceAccount (no token controller; Pods need no default SA) and
 * TaintNodesByCondition (no node lifecycle controller would ever lift the not-ready taint).
 * Namespaces therefore never finish deleting and owner references are not garbage-collected
 * (no kube-controller-manager); docs/apiserver.md lists what that changes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../runtime/host.js';
import { ensureTls, kubeconfigYaml, type ApiServer } from '../../apiserver/index.js';
import { controlPlaneBinary } from './binaries.js';
import { ControlPlaneError } from './errors.js';

export { controlPlaneAvailable, controlPlaneBinDir, controlPlaneBinary, controlPlaneVersions, CONTROL_PLANE_BINARIES } from './binaries.js';
export { ControlPlaneError } from './errors.js';

export interface ControlPlaneOptions {
  /** State (etcd data, certs, logs, kubeconfigs); a temporary directory, removed on stop, when absent. */
  dir?: string;
  /** Also start kube-scheduler (with its own RBAC identity). */
  scheduler?: boolean;
  /** Extra kube-apiserver flags (e.g. to lift request limits for a benchmark). */
  apiserverArgs?: string[];
  /** Extra kube-scheduler flags. */
  schedulerArgs?: string[];
  /** kube-scheduler's client QPS and burst (default 50 / 100, its own defaults). */
  schedulerQps?: number;
  schedulerBurst?: number;
  /** How long kube-apiserver may take to become ready (default 90 s: RBAC bootstrap on a loaded 2-core machine is slow). */
  readyTimeoutMs?: number;
}

/**
 * The same handle as the emulator's (url, admin kubeconfig and token, CA, stop), so tests and
 * the launcher treat either server alike; the kubeconfig and token are the cluster admin's
 * (group system:masters).
 */
export interface ControlPlane extends ApiServer {
  dir: string;
  etcdUrl: string;
  /** pids of the processes this started, by name (etcd, kube-apiserver, kube-scheduler), for leak checks and CPU accounting. */
  pids(): Record<string, number>;
  /**
   * A kubeconfig (YAML, and a file under dir) for a ServiceAccount, with a token from the
   * TokenRequest API; the ServiceAccount is created when missing. It can do exactly what
   * RBAC grants `system:serviceaccount:<namespace>:<name>`.
   */
  serviceAccountKubeconfig(
    namespace: string,
    name: string,
    opts?: ServiceAccountTokenOptions,
  ): Promise<{ path: string; yaml: string; token: string }>;
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
/** If the owning process dies without stop(), take the servers with it (no leftovers). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live)
      if (c.exitCode === null && c.signalCode === null)
        try {
          c.kill('SIGKILL');
        } catch {
          /* gone */
        }
  });
}

function tail(path: string, n = 3000): string {
  try {
    return readFileSync(path, 'utf8').slice(-n);
  } catch {
    return '';
  }
}

function startProcess(dir: string, name: string, bin: string, args: string[]): Proc {
  const log = join(dir, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  live.add(child);
  child.once('exit', () => live.delete(child));
  installExitHook();
  return { name, child, log };
}

async function stopProcess(p: Proc, graceMs = 10_000): Promise<void> {
  const c = p.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

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

async function waitUntil(what: string, proc: Proc, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new ControlPlaneError(
        'CONTROL_PLANE_START_FAILED',
        `${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${what}; its log ends:\n${tail(proc.log)}`,
      );
    }
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ControlPlaneError(
    'CONTROL_PLANE_START_FAILED',
    `${proc.name} was not ${what} within ${timeoutMs} ms; its log ends:\n${tail(proc.log)}`,
  );
}

/** Files kube-apiserver needs, made once in DIR/pki and reused (a restarted plane keeps its identity and tokens). */
export interface ControlPlanePki {
  dir: string;
  caPem: string;
  /** The admin's bearer token (group system:masters). */
  token: string;
  /** kube-scheduler's token (user system:kube-scheduler, bound by the built-in RBAC). */
  schedulerToken: string;
}

export async function preparePki(stateDir: string): Promise<ControlPlanePki> {
  const pki = join(stateDir, 'pki');
  mkdirSync(pki, { recursive: true });
  const tls = await ensureTls(pki, '127.0.0.1');
  if (!existsSync(join(pki, 'sa.key'))) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const tokens = join(pki, 'tokens.csv');
  if (!existsSync(tokens)) {
    // token,user,uid,"groups"
    writeFileSync(
      tokens,
      `${randomBytes(24).toString('hex')},gantry-admin,gantry-admin,"system:masters"
${randomBytes(24).toString('hex')},system:kube-scheduler,system:kube-scheduler
`,
      { mode: 0o600 },
    );
  }
  const [admin, scheduler] = readFileSync(tokens, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',')[0]);
  return { dir: pki, caPem: tls.caPem, token: admin, schedulerToken: scheduler };
}

export interface Command {
  command: string;
  args: string[];
}

export function etcdCommand(stateDir: string, clientPort: number, peerPort: number): Command {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return {
    command: controlPlaneBinary('etcd'),
    args: [
      '--name=gantry',
      `--data-dir=${join(stateDir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=gantry=${peer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
  };
}

export function apiserverCommand(pki: ControlPlanePki, etcdUrl: string, port: number, extra: string[] = []): Command {
  const f = (n: string) => join(pki.dir, n);
  return {
    command: controlPlaneBinary('kube-apiserver'),
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--etcd-prefix=/registry',
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${f('server.crt')}`,
      `--tls-private-key-file=${f('server.key')}`,
      `--cert-dir=${pki.dir}`,
      `--token-auth-file=${f('tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=https://127.0.0.1:${port}/`,
      `--service-account-signing-key-file=${f('sa.key')}`,
      `--service-account-key-file=${f('sa.pub')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
      '--profiling=false',
      ...extra,
    ],
  };
}

/**
 * kube-scheduler with a KubeSchedulerConfiguration (its flags for the client are deprecated):
 * no leader election, and the client QPS/burst given (its defaults, 50/100, would measure the
 * client limiter rather than the scheduler).
 */
export function schedulerCommand(
  stateDir: string,
  kubeconfigPath: string,
  port: number,
  o: { qps?: number; burst?: number; extra?: string[] } = {},
): Command {
  const config = join(stateDir, 'kube-scheduler.yaml');
  writeFileSync(
    config,
    [
      'apiVersion: kubescheduler.config.k8s.io/v1',
      'kind: KubeSchedulerConfiguration',
      'clientConnection:',
      `  kubeconfig: ${JSON.stringify(kubeconfigPath)}`,
      `  qps: ${o.qps ?? 50}`,
      `  burst: ${o.burst ?? 100}`,
      'leaderElection:',
      '  leaderElect: false',
      '',
    ].join('\n'),
  );
  return {
    command: controlPlaneBinary('kube-scheduler'),
    args: [
      `--config=${config}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${join(stateDir, 'scheduler-certs')}`,
      ...(o.extra ?? []),
    ],
  };
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

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const temp = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gantry-controlplane-'));
  mkdirSync(dir, { recursive: true });
  const procs: Proc[] = [];
  const stopAll = async () => {
    for (const p of [...procs].reverse()) await stopProcess(p);
  };
  try {
    const [clientPort, peerPort, port] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const e = etcdCommand(dir, clientPort, peerPort);
    const etcd = startProcess(dir, 'etcd', e.command, e.args);
    procs.push(etcd);
    await waitUntil('healthy', etcd, 30_000, async () => (await fetch(`${etcdUrl}/health`)).ok);

    const pki = await preparePki(dir);
    const url = `https://127.0.0.1:${port}`;
    const a = apiserverCommand(pki, etcdUrl, port, opts.apiserverArgs);
    const apiserver = startProcess(dir, 'kube-apiserver', a.command, a.args);
    procs.push(apiserver);
    const yaml = kubeconfigYaml(url, pki.caPem, pki.token);
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, yaml, { mode: 0o600 });
    await waitUntil('ready', apiserver, opts.readyTimeoutMs ?? 90_000, () => apiserverReady(url, pki));

    if (opts.scheduler) {
      const schedKubeconfig = join(dir, 'scheduler.kubeconfig');
      writeFileSync(schedKubeconfig, kubeconfigYaml(url, pki.caPem, pki.schedulerToken, 'kube-system'), { mode: 0o600 });
      const schedPort = await freePort();
      const sc = schedulerCommand(dir, schedKubeconfig, schedPort, {
        qps: opts.schedulerQps,
        burst: opts.schedulerBurst,
        extra: opts.schedulerArgs,
      });
      const scheduler = startProcess(dir, 'kube-scheduler', sc.command, sc.args);
      procs.push(scheduler);
      // its serving certificate is self-signed by itself; this probe only asks whether it is up
      await waitUntil(
        'healthy',
        scheduler,
        60_000,
        async () =>
          (await controlPlaneRequest(`https://127.0.0.1:${schedPort}/healthz`, { insecure: true, timeoutMs: 2000 })).status === 200,
      );
    }

    let stopped = false;
    return {
      url,
      port,
      kubeconfigPath,
      kubeconfigYaml: yaml,
      caPem: pki.caPem,
      token: pki.token,
      dir,
      etcdUrl,
      pids: () => Object.fromEntries(procs.filter((p) => p.child.pid).map((p) => [p.name, p.child.pid!])),
      async serviceAccountKubeconfig(namespace, name, tokenOpts) {
        const saToken = await serviceAccountToken(url, pki, namespace, name, tokenOpts);
        const saYaml = kubeconfigYaml(url, pki.caPem, saToken, namespace);
        const path = join(dir, `sa-${namespace}-${name}${tokenOpts?.boundNode ? `-node-${tokenOpts.boundNode}` : ''}.kubeconfig`);
        writeFileSync(path, saYaml, { mode: 0o600 });
        return { path, yaml: saYaml, token: saToken };
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
        if (temp) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    if (temp) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
