/**
 * The command lines of the control plane's servers: etcd on loopback, kube-apiserver with TLS,
 * RBAC, token-file auth and a service-account signing key, and kube-scheduler with its
 * configuration file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlPlaneBinary, controllerManagerBinary } from './binaries.js';
import { FRONT_PROXY_CLIENT, type ControlPlanePki } from './pki.js';

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

/**
 * kube-apiserver's aggregation layer flags: it authenticates to extension API servers with the
 * front-proxy client certificate and names the user in X-Remote-* headers, which they trust
 * only from a certificate of the front-proxy CA (published in
 * kube-system/extension-apiserver-authentication); it routes to a Service's endpoint IPs
 * directly, as there is no kube-proxy to route its cluster IP.
 */
export function aggregatorArgs(pkiDir: string): string[] {
  const f = (n: string) => join(pkiDir, n);
  return [
    `--requestheader-client-ca-file=${f('front-proxy-ca.crt')}`,
    `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${f('front-proxy-client.crt')}`,
    `--proxy-client-key-file=${f('front-proxy-client.key')}`,
    '--enable-aggregator-routing=true',
  ];
}

/**
 * kube-controller-manager running only the controllers named (e.g. the HPA's), each with its
 * own ServiceAccount's credentials (--use-service-account-credentials), so each holds exactly
 * its built-in RBAC role as on a kubeadm cluster; no leader election. Its own HTTPS port serves
 * only the always-allowed /healthz (no authentication/authorization kubeconfig: nothing else is asked of it).
 */
export function controllerManagerCommand(
  stateDir: string,
  kubeconfigPath: string,
  port: number,
  controllers: string[],
  extra: string[] = [],
): Command {
  return {
    command: controllerManagerBinary(),
    args: [
      `--kubeconfig=${kubeconfigPath}`,
      `--controllers=${controllers.join(',')}`,
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${join(stateDir, 'controller-manager-certs')}`,
      ...extra,
    ],
  };
}
