/**
 * What the controller serves and connects to besides the API (controller/index.ts wires it):
 * /metrics, the external metrics API, the bus with its load reports, and the activation
 * responder that answers on it while this replica leads.
 */
import type { Logger } from '../runtime/log.js';
import { type ActivationResponder, createActivationResponder } from './activation/responder.js';
import type { Autoscaler } from './autoscale/autoscaler.js';
import type { LoadStore } from './autoscale/load-store.js';
import { type ControllerBus, connectControllerBus } from './bus.js';
import type { CountingClient } from './counting-client.js';
import type { ControllerOptions } from './index.js';
import { instanceInformer, providerInformer } from './informers.js';
import type { Manager } from './manager.js';
import type { MembraneConfig } from './membrane.js';
import { type ControllerMetrics, type MetricsServer, serveMetrics } from './metrics.js';
import { type MetricsApiServer, startMetricsApi } from './metrics-api/index.js';

/**
 * What the controller serves and connects to before it may lead: /metrics, the external
 * metrics API (figures from the autoscaler's LoadStore) and the bus. A failure closes what
 * opened and stops the informers, so a port in use or an unreachable bus fails the start
 * without leaving a leader behind.
 */
export async function serveAndConnect(
  opts: ControllerOptions,
  d: { m: Manager; client: CountingClient; log: Logger; metrics: ControllerMetrics; loadStore: LoadStore },
): Promise<{ server?: MetricsServer; metricsApi?: MetricsApiServer; bus?: ControllerBus }> {
  const { m, client, log, metrics, loadStore } = d;
  let server: MetricsServer | undefined;
  let metricsApi: MetricsApiServer | undefined;
  try {
    if (opts.metricsAddr) server = await serveMetrics(opts.metricsAddr, metrics, () => m.synced());
    // the external metrics API (HPA path) on every replica, so its Service may route to any
    if (opts.metricsApi)
      metricsApi = await startMetricsApi(
        { ...opts.metricsApi, figures: opts.metricsApi.figures ?? loadStore },
        { informers: m, client, log },
      );
    return { server, metricsApi, bus: await busOf(opts, log, loadStore, metrics) };
  } catch (err) {
    await server?.close();
    await metricsApi?.close();
    await opts.membrane?.authority.close(); // the revocation sync may have opened its push connection
    await m.stopInformers();
    client.close();
    throw err;
  }
}

/** The responder answers while this replica leads, and only then. */
export function followLeadership(responder: ActivationResponder, log: Logger): (leading: boolean) => void {
  return (leading) =>
    void (leading ? responder.start() : responder.stop()).catch((err) =>
      log.warn({ err: (err as Error).message, leading }, 'activation responder: (un)subscribing failed'),
    );
}

/** After the last reconcile: no more activation answers, the bus closed, the membrane's push connection too. */
export async function closeBus(
  responder: ActivationResponder | undefined,
  bus: ControllerBus | undefined,
  membrane?: MembraneConfig,
): Promise<void> {
  await responder?.stop();
  await bus?.close();
  await membrane?.authority.close();
}

/** The activation responder (activation/) on the controller's bus, waking Providers through the autoscaler. */
export function activationResponder(m: Manager, bus: ControllerBus, activator: Autoscaler, log: Logger): ActivationResponder {
  return createActivationResponder({
    nc: bus.nc,
    activator,
    providers: providerInformer(m),
    instances: instanceInformer(m),
    log: log.child({ part: 'activation' }),
  });
}

/** The controller's bus connection (bus.ts), with the membrane or --nats; none without either. */
function busOf(opts: ControllerOptions, log: Logger, store: LoadStore, metrics: ControllerMetrics): Promise<ControllerBus | undefined> {
  if (!opts.membrane && !opts.nats) return Promise.resolve(undefined);
  return connectControllerBus({
    membrane: opts.membrane,
    servers: opts.nats,
    log,
    store,
    counted: (result) => metrics.loadReports.inc({ result }),
  });
}
