/**
 * The agent's liveness signal: one `coordination.k8s.io/v1` Lease per node, named
 * `gantry-agent-<node>` in the Gantry namespace. `holderIdentity` is the node name, the agent
 * renews `renewTime` every `renewIntervalMs` and annotates the Lease with `gantry.dev/target`,
 * the target it can really load, `gantry.dev/seal-key`, the public half of the node's seal key
 * (agent/seal-key.ts) that pull credentials are sealed to, and `gantry.dev/max-instances`, how
 * many instances it runs at most (the scheduler's NodeFull filter). The controller reads these to decide where instances may go
 * (an expired Lease means "no live agent on that node").
 *
 * Renewal is a read-modify-write (PUT with the resourceVersion) so a stale writer gets a 409
 * instead of silently clobbering; a failure is logged and retried on the next tick, never fatal.
 *
 * handOver(ms): an agent that stops and leaves its hosts to the node's host keeper renews one
 * last time with `gantry.dev/handover-until` = now + ms, so the controller does not call the
 * node lost while its successor starts and adopts them (bounded by the controller,
 * controller/providers/scheduling/nodes.ts). Every ordinary renewal removes it.
 */
import { agentLeaseName, annotations } from '../api/common.js';
import { isConflict, isNotFound, type KubeClient, type LeaseObject, resourcePath } from '../runtime/kube.js';
import { kubeMicroTime } from '../runtime/toolkit/time.js';
import type { Logger } from '../runtime/log.js';

// the Lease contract (name, target annotation) is the API's: the controller reads the same names
const TARGET_ANNOTATION = annotations.agentTarget;
const SEAL_KEY_ANNOTATION = annotations.nodeSealKey;
const MAX_INSTANCES_ANNOTATION = annotations.agentMaxInstances;
const HANDOVER_ANNOTATION = annotations.agentHandoverUntil;
const leaseName = agentLeaseName;

export interface HeartbeatOptions {
  kube: KubeClient;
  namespace: string;
  node: string;
  target: string;
  /** This node's seal key (public, X…; agent/seal-key.ts): published so the controller can seal pull credentials to it. */
  sealKey?: string;
  /** Published on the Lease; absent: no cap published. */
  maxInstances?: number;
  log: Logger;
  /** How long the controller should consider the agent alive after a renewal. */
  leaseDurationSeconds?: number;
  renewIntervalMs?: number;
  /** Told after every renewal attempt (metrics). */
  onRenew?: (ok: boolean) => void;
}

/** Renew now and then every interval until stop(). */
export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private inFlight?: Promise<void>;
  private handoverUntil?: string;
  /** Date.now() of the last successful renewal, and the error of the last attempt if it failed (readiness). */
  lastSuccessAt?: number;
  lastError?: string;

  constructor(private readonly o: HeartbeatOptions) {}

  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const every = this.o.renewIntervalMs ?? Math.max(1_000, ((this.o.leaseDurationSeconds ?? 40) * 1000) / 4);
    this.timer = setTimeout(() => {
      this.tick().finally(() => this.schedule());
    }, every);
    this.timer.unref?.();
  }

  private tick(): Promise<void> {
    this.inFlight = this.renew().then(
      () => {
        this.lastSuccessAt = Date.now();
        this.lastError = undefined;
        this.o.onRenew?.(true);
      },
      (err) => {
        this.lastError = (err as Error).message;
        this.o.onRenew?.(false);
        this.o.log.warn({ err: (err as Error).message, lease: leaseName(this.o.node) }, 'lease renewal failed; retrying');
      },
    );
    return this.inFlight;
  }

  /** One renewal: create the Lease if missing, else update holder, renewTime and target. */
  async renew(): Promise<void> {
    const { kube, namespace, node, target, sealKey } = this.o;
    const name = leaseName(node);
    const published: Record<string, string> = { [TARGET_ANNOTATION]: target };
    if (sealKey) published[SEAL_KEY_ANNOTATION] = sealKey;
    if (this.o.maxInstances !== undefined) published[MAX_INSTANCES_ANNOTATION] = String(this.o.maxInstances);
    if (this.handoverUntil) published[HANDOVER_ANNOTATION] = this.handoverUntil;
    const path = resourcePath({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespace });
    const now = kubeMicroTime(new Date());
    const spec = {
      holderIdentity: node,
      leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40,
      renewTime: now,
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      let current: LeaseObject;
      try {
        current = await kube.get(`${path}/${name}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        try {
          await kube.create(path, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name,
              namespace,
              labels: { 'app.kubernetes.io/component': 'gantry-agent', 'gantry.dev/node': node },
              annotations: published,
            },
            spec: { ...spec, acquireTime: now },
          });
          return;
        } catch (e) {
          if (isConflict(e)) continue;
          throw e;
        }
      }
      const holderChanged = current.spec?.holderIdentity !== node;
      const kept = { ...(current.metadata?.annotations ?? {}) };
      delete kept[HANDOVER_ANNOTATION]; // a predecessor's handover ends with the first renewal of this agent
      const next = {
        ...current,
        metadata: { ...current.metadata, annotations: { ...kept, ...published } },
        spec: { ...current.spec, ...spec, ...(holderChanged ? { acquireTime: now } : {}) },
      };
      try {
        await kube.replace(`${path}/${name}`, next);
        return;
      } catch (e) {
        if (isConflict(e)) continue;
        throw e;
      }
    }
    throw new Error(`lease ${namespace}/${name}: conflicting writers, gave up after 3 attempts`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }

  /** Stop renewing, after one last renewal that asks for `ms` of grace for a successor (see above). */
  async handOver(ms: number): Promise<void> {
    await this.stop();
    this.handoverUntil = kubeMicroTime(new Date(Date.now() + ms));
    await this.renew().catch((e: Error) => this.o.log.warn({ err: e.message }, 'cannot write the handover on the Lease'));
  }
}
