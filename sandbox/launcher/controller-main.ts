/**
 * The sandbox's controller process: `node dist/sandbox/launcher/controller-main.js CONFIG_JSON`.
 * It runs `startController` with the sandbox's kubeconfig, trust and metrics address, and stops
 * it cleanly on SIGTERM/SIGINT. A separate process (not the launcher's) so that the controller
 * crashing, or being killed in the demo, is visible as it would be in a cluster.
 */
import { startController } from '../../controller/index.js';
import { loadKubeConfig } from '../../runtime/kube.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { watchParent } from '../../runtime/parent-watch.js';
import { natsServers } from '../../client/nats.js';
import { startTracing } from '../../runtime/tracing/setup.js';

watchParent(); // stop when the launcher dies, even by SIGKILL

export interface ControllerChildConfig {
  kubeconfig: string;
  namespace: string;
  /** Where the sealed pull credentials go (gantry-nodes). */
  credentialsNamespace?: string;
  trustedIssuers: string[];
  plainHttpRegistries: string[];
  metricsAddr: string;
  agentLeaseGraceMs?: number;
  /** The membrane's key directory and the NATS URL(s, comma-separated) account updates go to. */
  membrane?: { keysDir: string; natsUrl: string; natsCa?: string };
  /** Without the membrane: the NATS URL load reports are read from (the autoscaler's figures). */
  natsUrl?: string;
  /**
   * Leader election identity prefix (several controllers: controller, controller-2, …); the
   * process id is appended, so a restarted controller is a new candidate, as a new pod is,
   * instead of resuming the Lease its killed predecessor held.
   */
  identity?: string;
  leaderElection?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
}

const config = JSON.parse(process.argv[2] ?? '{}') as ControllerChildConfig;
// the launcher passes its OTEL_* on: the controller's reconciles join the operator's traces
const tracing = await startTracing('gantry-controller');
const authority = config.membrane ? MembraneAuthority.load(config.membrane.keysDir) : undefined;
if (authority && config.membrane?.natsCa) authority.busTls = { caFile: config.membrane.natsCa };
const controller = await startController({
  kubeConfig: loadKubeConfig({ kubeconfigPath: config.kubeconfig }),
  namespace: config.namespace,
  credentialsNamespace: config.credentialsNamespace,
  trustedIssuers: config.trustedIssuers,
  plainHttpRegistries: config.plainHttpRegistries,
  metricsAddr: config.metricsAddr,
  agentLeaseGraceMs: config.agentLeaseGraceMs,
  // the bus servers: account pushes, and the controller's own connection (load reports, activation)
  membrane: config.membrane ? { authority: authority!, servers: natsServers(config.membrane.natsUrl) } : undefined,
  nats: config.membrane ? undefined : config.natsUrl,
  identity: config.identity ? `${config.identity}-${process.pid}` : undefined,
  leaderElection: config.leaderElection,
});
process.stderr.write(`gantry sandbox controller: serving metrics on ${config.metricsAddr}\n`);
let stopping = false;
const onSignal = () => {
  if (stopping) return;
  stopping = true;
  controller
    .stop()
    .then(
      () => 0,
      () => 1,
    )
    .then(async (code) => {
      await tracing.shutdown();
      process.exit(code);
    });
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
