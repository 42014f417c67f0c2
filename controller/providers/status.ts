/**
 * Phase 5, status: `Scheduled` (from the scheduler's own summary), `Progressing` (progress
 * deadline) and `Ready`, the replica counts, written through `/status` with a merge patch —
 * skipped when nothing changed, so a steady Provider costs no writes.
 */
import { group, labels, version } from '../../api/common.js';
import type { Provider, ResolvedArchive } from '../../api/provider.js';
import { isNotFound, type KubeClient } from '../../runtime/kube.js';
import { jsonEqual } from '../../runtime/toolkit/conditions.js';
import type { EventRecorder } from '../events.js';
import type { ControllerMetrics } from '../metrics.js';
import type { RolloutPlan } from './rollout.js';
import type { ScheduleResult } from './scheduling/scheduler.js';
import type { StatusDraft } from './draft.js';

export interface StatusInput {
  provider: Provider;
  resolved?: ResolvedArchive;
  mode: 'Spread' | 'Daemon';
  allowMultiplePerNode?: boolean;
  desired: number;
  plan: RolloutPlan;
  /** The schedule phase's result (none until something resolved). */
  schedule?: ScheduleResult;
  placed: number;
  nodeCount: number;
  progressDeadlineSeconds: number;
  /** The template rolled out to (status.templateHash). */
  templateHash?: string;
  /** spec.paused, with the spec's own template hash (which waits for resume). */
  paused?: { specHash?: string };
  now: number;
  client: KubeClient;
  events: EventRecorder;
  metrics: ControllerMetrics;
}

export async function statusPhase(draft: StatusDraft, o: StatusInput): Promise<void> {
  const { plan, desired, resolved, schedule: result, provider: p } = o;
  // what cannot be placed at all (independent of rollout ordering): too few capable nodes, or
  // replicas the scheduler could not place that no old instance's removal will free room for
  const capacity = result ? (o.allowMultiplePerNode ? (result.capacity > 0 ? Infinity : 0) : result.capacity) : 0;
  const short = result ? Math.max(0, desired - capacity, result.unplaced - Math.max(0, plan.old)) : 0;
  if (result) {
    if (short > 0 || (o.mode === 'Daemon' && desired === 0 && o.nodeCount > 0)) {
      const reason = result.noMatchingTarget ? 'NoMatchingTarget' : 'Unschedulable';
      const message =
        o.mode === 'Daemon' && desired === 0
          ? `no eligible node: ${result.summary}`
          : `${short} of ${desired} replicas cannot be placed: ${result.summary || 'no nodes'}`;
      draft.set('Scheduled', 'False', reason, message);
      o.events.record(p, 'Warning', 'FailedScheduling', message);
    } else if (draft.createRefused) {
      draft.set('Scheduled', 'False', 'InstanceCreateRefused', draft.createRefused);
      o.events.record(p, 'Warning', 'FailedCreate', draft.createRefused);
    } else {
      draft.set('Scheduled', 'True', 'AllReplicasPlaced', result.skipped ? `other nodes skipped: ${result.skipped}` : '');
    }
  }
  o.metrics.unplaced.set(short);

  if (o.paused) pausedProgress(draft, o);
  else if (resolved) progressing(draft, o, resolved);
  const replicas = plan.kept.length + o.placed;
  const allReady = desired > 0 ? plan.ready >= desired : replicas === 0;
  draft.set('Ready', allReady ? 'True' : 'False', allReady ? 'AllReplicasReady' : 'ReplicasNotReady', `${plan.ready}/${desired} ready`);

  // status.autoscale is the autoscaler's (controller/autoscale/): a stale copy here must not undo its write
  const { autoscale: _theirs, ...own } = draft.status;
  const { autoscale: _live, ...live } = p.status ?? {};
  const next = {
    ...own,
    observedGeneration: draft.generation,
    replicas,
    readyReplicas: plan.ready,
    updatedReplicas: plan.updated + o.placed,
    desiredReplicas: desired,
    ...(o.templateHash ? { templateHash: o.templateHash } : {}),
    selector: `${labels.provider}=${p.metadata.name}`,
    ...(resolved ? { resolved } : {}),
    conditions: draft.conditions,
  };
  if (!jsonEqual(next, live)) {
    const path = `/apis/${group}/${version}/namespaces/${encodeURIComponent(p.metadata.namespace!)}/providers/${encodeURIComponent(p.metadata.name)}/status`;
    try {
      await o.client.mergePatch(path, { status: { ...next, progressingSince: next.progressingSince ?? null } });
    } catch (err) {
      if (!isNotFound(err)) draft.retryWith(err);
    }
  }
}

/** Paused: no deadline runs; the condition says which template runs and which one waits. */
function pausedProgress(draft: StatusDraft, o: StatusInput): void {
  draft.status.progressingSince = undefined;
  const waiting =
    o.paused?.specHash && o.paused.specHash !== o.templateHash ? `; the spec's template ${o.paused.specHash} waits for resume` : '';
  draft.set('Progressing', 'False', 'RolloutPaused', `rollout paused at template ${o.templateHash ?? '(none)'}${waiting}`);
}

function progressing(draft: StatusDraft, o: StatusInput, resolved: ResolvedArchive): void {
  const { plan, desired, now } = o;
  if (plan.complete) {
    draft.status.progressingSince = undefined;
    draft.set('Progressing', 'True', 'RolloutComplete', `${desired} instance(s) of revision ${resolved.revision} ready`);
    return;
  }
  const since = draft.status.progressingSince ? Date.parse(draft.status.progressingSince) : now;
  if (!draft.status.progressingSince) draft.status.progressingSince = new Date(now).toISOString();
  const deadline = o.progressDeadlineSeconds * 1000;
  if (now - since > deadline) {
    const message = `revision ${resolved.revision}: ${plan.updatedReady}/${desired} ready after ${o.progressDeadlineSeconds}s`;
    draft.set('Progressing', 'False', 'ProgressDeadlineExceeded', message);
    o.events.record(o.provider, 'Warning', 'ProgressDeadlineExceeded', message);
  } else {
    draft.set(
      'Progressing',
      'True',
      'RolloutInProgress',
      `revision ${resolved.revision}: ${plan.updatedReady}/${desired} updated and ready, ${plan.old} old`,
    );
    draft.requeueWithin(Math.max(100, since + deadline - now + 50));
  }
}
