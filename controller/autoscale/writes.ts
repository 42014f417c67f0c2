/**
 * How a decision reaches the API: status.autoscale and the `Autoscaling` condition through the
 * status subresource first (desiredReplicas is what the CRD's owner rule lets spec.replicas
 * become), then spec.replicas through the scale subresource, then an Event. Nothing else in
 * Gantry writes spec.replicas of an autoscaled Provider, and the API server refuses anyone who tries.
 */
import { group, version } from '../../api/common.js';
import type { AutoscaleStatus, Provider } from '../../api/provider.js';
import type { KubeClient } from '../../runtime/kube.js';
import { setCondition } from '../../runtime/toolkit/conditions.js';
import { kubeTime } from '../../runtime/toolkit/time.js';
import type { EventRecorder } from '../events.js';
import type { ProviderFigures } from './contract.js';
import { type Decision, figure } from './decide.js';

export const CONDITION = 'Autoscaling';

/** Reasons that change spec.replicas (an Event each). */
const SCALES = new Set(['ScaledUp', 'ScaledDown', 'ScaledToZero', 'Activated']);

export type ConditionReason = Decision['reason'] | 'InvalidSpec' | 'ScaleRefused';

export const providerPath = (p: Provider) =>
  `/apis/${group}/${version}/namespaces/${encodeURIComponent(p.metadata.namespace!)}/providers/${encodeURIComponent(p.metadata.name)}`;

export interface WriteDeps {
  client: KubeClient;
  events: EventRecorder;
  /** Counts a replicas change by reason. */
  scaled(reason: string): void;
}

/** The `Autoscaling` condition's status: False when the autoscaler cannot do its work, Unknown without figures (yet). */
const conditionStatus = (reason: ConditionReason) =>
  reason === 'InvalidSpec' || reason === 'ScaleRefused' ? 'False' : reason === 'NoFigures' ? 'Unknown' : 'True';

/** Writes status.autoscale + the condition, when they differ from what `p` (the cache) shows or `refresh` is due. */
export async function writeStatus(
  deps: WriteDeps,
  p: Provider,
  next: { desired?: number; reason: ConditionReason; message: string; figures?: ProviderFigures; scaledAt?: number },
  refresh: boolean,
): Promise<void> {
  const prev = p.status?.autoscale;
  const autoscale: AutoscaleStatus = {
    ...prev,
    ...(next.desired !== undefined ? { desiredReplicas: next.desired } : {}),
    reason: next.reason,
    message: next.message.slice(0, 1024),
    ...(next.scaledAt !== undefined ? { lastScaleTime: kubeTime(next.scaledAt) } : {}),
    callsPerSecond: figure(next.figures?.callsPerSecond ?? 0),
    inFlight: figure(next.figures?.inFlight ?? 0),
  };
  const cond = p.status?.conditions?.find((c) => c.type === CONDITION);
  const same =
    prev?.desiredReplicas === autoscale.desiredReplicas &&
    prev?.reason === autoscale.reason &&
    cond?.reason === next.reason &&
    cond.status === conditionStatus(next.reason);
  if (same && !refresh) return;
  const conditions = setCondition(p.status?.conditions, {
    type: CONDITION,
    status: conditionStatus(next.reason),
    reason: next.reason,
    message: autoscale.message,
    observedGeneration: p.metadata.generation,
  });
  await deps.client.mergePatch(`${providerPath(p)}/status`, { status: { autoscale, conditions } });
}

/** spec.replicas through the scale subresource; an Event and the metric when it changed. False: refused. */
export async function writeReplicas(deps: WriteDeps, p: Provider, d: Decision): Promise<boolean> {
  try {
    await deps.client.mergePatch(`${providerPath(p)}/scale`, { spec: { replicas: d.desired } });
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 404) return false;
    deps.events.record(p, 'Warning', 'ScaleRefused', `spec.replicas ${d.desired}: ${(err as Error).message}`);
    return false;
  }
  if (SCALES.has(d.reason)) {
    deps.events.record(p, 'Normal', d.reason, d.message);
    deps.scaled(d.reason);
  }
  return true;
}
