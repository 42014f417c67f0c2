/**
 * Step 4, the controllers: `--controllers N` processes running the same controller a cluster
 * runs (controller-main.ts), one leading and the others standing by under leader election, each
 * with its own metrics port. A controller is ready when its caches have synced (/readyz), so
 * the agents and the examples meet a working controller.
 */
import { distEntry } from '../../../runtime/paths.js';
import { CREDENTIALS_NAMESPACE, GANTRY_NAMESPACE } from '../cluster-objects.js';
import type { ControllerChildConfig } from '../controller-main.js';
import type { Launch } from '../launch.js';

export interface ControllersOptions {
  kubeconfig: string;
  issuer: string;
  plainHttpRegistries: string[];
  agentLeaseGraceMs?: number;
  leaderElection?: ControllerChildConfig['leaderElection'];
}

export async function startControllers(l: Launch, o: ControllersOptions): Promise<void> {
  const controllerConfig: ControllerChildConfig = {
    kubeconfig: o.kubeconfig,
    namespace: GANTRY_NAMESPACE,
    credentialsNamespace: CREDENTIALS_NAMESPACE,
    trustedIssuers: [o.issuer],
    plainHttpRegistries: o.plainHttpRegistries,
    metricsAddr: `127.0.0.1:${l.st.controllerMetricsPort}`,
    agentLeaseGraceMs: o.agentLeaseGraceMs,
    membrane: { keysDir: l.sd.membraneDir, natsUrl: l.natsUrl, natsCa: l.sd.natsCa },
    leaderElection: o.leaderElection,
  };
  const metricsPorts = [l.st.controllerMetricsPort, ...(l.st.extraControllerMetricsPorts ?? [])];
  const controllers = metricsPorts.map((port, k) => {
    const name = k === 0 ? 'controller' : `controller-${k + 1}`;
    const config: ControllerChildConfig = {
      ...controllerConfig,
      metricsAddr: `127.0.0.1:${port}`,
      ...(metricsPorts.length > 1 ? { identity: name } : {}),
    };
    return l.child({
      name,
      command: process.execPath,
      args: [distEntry('sandbox/launcher/controller-main'), JSON.stringify(config)],
      logFile: l.sd.log(name),
      ready: async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      startTimeoutMs: 30_000,
    });
  });
  await Promise.all(controllers.map((c) => c.start()));
  l.checkInterrupted();
  const each = controllers.map((c, k) => `${c.name} pid ${c.pid}, metrics http://127.0.0.1:${metricsPorts[k]}/metrics`);
  l.say(`  controller     ${each.join('; ')}${controllers.length > 1 ? ' (one leads, the others stand by)' : ''}`);
}
