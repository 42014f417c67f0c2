/**
 * The Provider reconciler: one level-triggered function from (Provider, observed cluster) to
 * actions. It reads only caches and never acts on "what just happened", so duplicated or
 * missed events, a restart, or a leader change lose nothing:
 *
 *   1. gone or deleting → remove every instance it owns;
 *   2. resolve the archive (cached; failures keep the last good revision serving);
 *   3. heal: instances on lost nodes/agents or failed are marked for removal;
 *   4. plan replicas (rollout.ts) and place new ones (scheduling/);
 *   5. write status (replicas, ready, conditions) and Events saying why.
 *
 * Creations are remembered until the informer sees them ("expectations"), so a reconcile
 * that runs before the watch catches up does not place the same replica twice.
 */
import { randomBytes } from 'node:crypto';
import { apiVersion, group, labels, version, type Condition } from '../api/common.js';
import { ProviderSpec, providerDefaults, type Provider, type ResolvedArchive } from '../api/provider.js';
import type { ProviderInstance } from '../api/instance.js';
import { isAlreadyExists, isNotFound, type KubeClient } from '../runtime/kube.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import { setCondition, jsonEqual } from './conditions.js';
import type { EventRecorder } from './events.js';
import type { ControllerMetrics } from './metrics.js';
import { planRollout, type InstanceView } from './rollout.js';
import { failureFromError, checkResolved, ResolveFailure, type ArchiveResolver } from './resolve.js';
import { filterNodes, scheduleReplicas } from './scheduling/schedule.js';
import { lostReason, lostReasons } from './scheduling/filters.js';
import type { RemovalReason } from '../api/reasons.js';
import type { NodeView } from './scheduling/nodes.js';
import type { WorkResult } from './workqueue.js';
import type { Limiter } from './limiter.js';

export interface ReconcilerDeps {
  client: KubeClient;
  providers: Informer<Provider>;
  instances: Informer<ProviderInstance>;
  /** Node views (node + agent lease), rebuilt by the caller as they change. */
  nodeViews(): Map<string, NodeView>;
  /** Gantry instances per node, over all Providers. */
  load(): Map<string, number>;
  /** Instance keys (ns/name) owned by a Provider key (ns/name), from the informer index. */
  instancesOf(providerKey: string): ProviderInstance[];
  resolver: ArchiveResolver;
  trustedIssuers: string[];
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  /** Bounds API writes in flight across all reconciles. */
  writes: Limiter;
  /** Remember an instance this controller created/removed until the informer reflects it. */
  expectCreated(i: ProviderInstance): void;
  expectRemoved(key: string): void;
  /** Per-Provider nodes to keep away from after a failure there, until the given time. */
  failedOn: Map<string, Map<string, { until: number; count: number }>>;
}

const instancesPath = (ns: string) => `/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}/providerinstances`;
const providerStatusPath = (ns: string, name: string) => `/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}/providers/${encodeURIComponent(name)}/status`;


// random bytes drawn a page at a time: one syscall per 1,000 names, not one per name
let pool = Buffer.alloc(0);
let poolAt = 0;
function instanceName(provider: string): string {
  if (poolAt + 3 > pool.length) {
    pool = randomBytes(3072);
    poolAt = 0;
  }
  const suffix = pool.toString('hex', poolAt, poolAt + 3).slice(0, 5);
  poolAt += 3;
  return `${provider.slice(0, 240)}-${suffix}`;
}

export async function readDockerConfigs(client: KubeClient, ns: string, secrets: { name: string }[] | undefined): Promise<string[]> {
  const out: string[] = [];
  for (const s of secrets ?? []) {
    let sec: any;
    try {
      sec = await client.get(`/api/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(s.name)}`);
    } catch (err) {
      throw new ResolveFailure('PullSecretMissing', `pull secret ${ns}/${s.name}: ${(err as Error).message}`, !isNotFound(err));
    }
    const data = sec.data?.['.dockerconfigjson'];
    if (!data) throw new ResolveFailure('PullSecretInvalid', `pull secret ${ns}/${s.name} has no .dockerconfigjson`, false);
    out.push(Buffer.from(data, 'base64').toString('utf8'));
  }
  return out;
}

export async function reconcileProvider(deps: ReconcilerDeps, key: string): Promise<WorkResult | void> {
  const [ns, name] = key.split('/');
  const p = deps.providers.get(name, ns);
  const owned = deps.instancesOf(key);

  // 1. gone or deleting: remove everything it owns
  if (!p || p.metadata.deletionTimestamp) {
    deps.failedOn.delete(key);
    await removeInstances(deps, owned.filter((i) => !i.metadata.deletionTimestamp).map((i) => ({ inst: i, reason: 'ProviderDeleted' })), true);
    return;
  }
  const log = deps.log.child({ provider: key });
  const now = Date.now();
  const parsed = ProviderSpec.safeParse(p.spec);
  let status = structuredClone(p.status ?? {});
  let conditions: Condition[] = status.conditions ?? [];
  const gen = p.metadata.generation ?? 0;
  let requeueAfterMs: number | undefined = 30_000;
  let retry: unknown;

  // 2. resolve
  let resolved: ResolvedArchive | undefined = status.resolved;
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    conditions = setCondition(conditions, { type: 'Resolved', status: 'False', reason: 'InvalidSpec', message: msg, observedGeneration: gen });
    deps.events.record(p, 'Warning', 'InvalidSpec', msg);
  } else {
    const spec = parsed.data;
    const trusted = trustedIssuersOf(spec, deps.trustedIssuers);
    try {
      const dockerConfigs = await readDockerConfigs(deps.client, ns, spec.archive.pullSecrets);
      const r = await deps.resolver.resolve({ ref: spec.archive.ref, revision: spec.archive.revision, dockerConfigs, trustedIssuers: trusted });
      checkResolved(r, { trustedIssuers: trusted, capabilityId: spec.capabilityId, ref: spec.archive.ref });
      if (resolved?.digest !== r.digest) {
        deps.events.record(p, 'Normal', 'Resolved', `${spec.archive.ref} revision ${r.revision} → ${r.digest} (${r.targets.join(', ')})`);
        status.progressingSince = undefined;
      }
      resolved = r;
      conditions = setCondition(conditions, { type: 'Resolved', status: 'True', reason: 'Resolved', message: `revision ${r.revision} (${r.digest})`, observedGeneration: gen });
    } catch (err) {
      const f = failureFromError(err, spec.archive.ref);
      deps.metrics.failures.inc({ reason: f.reason });
      const serving = resolved ? ` Still serving revision ${resolved.revision}.` : '';
      conditions = setCondition(conditions, { type: 'Resolved', status: 'False', reason: f.reason, message: f.message + serving, observedGeneration: gen });
      deps.events.record(p, 'Warning', f.reason, f.message);
      log.warn({ reason: f.reason, err: f.message }, 'resolve failed');
      if (f.transient) retry = f;
      else requeueAfterMs = 15_000;
    }
  }
  // an archive that resolved once keeps serving while a newer spec fails to resolve
  const spec = parsed.success ? parsed.data : (p.spec as any);
  const d = providerDefaults(spec);

  // 3. heal + 4. plan
  const nodes = deps.nodeViews();
  const load = deps.load();
  const active = owned.filter((i) => !i.metadata.deletionTimestamp);
  const archiveTargets = new Set(resolved?.targets ?? []);
  // a daemon runs on every node that passes the filters about the node itself
  const daemonNodes = d.mode === 'Daemon' ? new Set(filterNodes(nodes.values(), { archiveTargets, nodeSelector: spec.nodeSelector, tolerations: spec.tolerations, occupied: new Set() }).capable.map((n) => n.name)) : undefined;
  const desired = daemonNodes ? daemonNodes.size : d.replicas;
  const views: InstanceView[] = active.map((i) => {
    const node = nodes.get(i.spec.nodeName);
    let removeReason: RemovalReason | undefined = lostReason(node, spec.tolerations);
    if (!removeReason && i.status?.phase === 'Failed') removeReason = 'InstanceFailed';
    if (!removeReason && daemonNodes && resolved && !daemonNodes.has(i.spec.nodeName) && i.spec.archive.digest === resolved.digest) removeReason = 'NodeIneligible';
    return { name: i.metadata.name, node: i.spec.nodeName, digest: i.spec.archive.digest, ready: i.status?.phase === 'Running', removeReason, createdAt: i.metadata.creationTimestamp ?? '' };
  });
  const plan = planRollout({ instances: views, targetDigest: resolved?.digest, desired, maxSurge: d.maxSurge, maxUnavailable: d.maxUnavailable, load });

  // remove
  const byName = new Map(active.map((i) => [i.metadata.name, i]));
  const removals = plan.remove.map((r) => ({ inst: byName.get(r.name)!, reason: r.reason }));
  await removeInstances(deps, removals, false);
  const routine = plan.remove.filter((r) => r.reason === 'ScaledDown' || r.reason === 'Replaced');
  if (routine.length) deps.events.record(p, 'Normal', 'Removed', `removed ${routine.length} instance(s): ${summarize(routine.map((r) => (r.reason === 'Replaced' ? 'replaced by the new revision' : 'scaled down')))}`);
  const lostOnes = plan.remove.filter((r) => !['ScaledDown', 'Replaced'].includes(r.reason));
  if (lostOnes.length) {
    deps.events.record(p, 'Warning', 'InstancesReplaced', `removed ${lostOnes.length} instance(s) to replace them: ${summarize(lostOnes.map((r) => `${r.node}: ${r.reason}`))}`);
  }

  // a node where an instance failed is avoided for a while (doubling, capped), so a
  // replacement does not land on the node that just failed it
  let failed = deps.failedOn.get(key);
  for (const r of plan.remove) {
    if (r.reason !== 'InstanceFailed') continue;
    if (!failed) deps.failedOn.set(key, (failed = new Map()));
    const prev = failed.get(r.node);
    const count = (prev?.count ?? 0) + 1;
    failed.set(r.node, { until: now + Math.min(300_000, 10_000 * 2 ** (count - 1)), count });
  }
  const avoid = new Set<string>();
  for (const [node, f] of failed ?? []) if (f.until > now) avoid.add(node);

  // place
  // the scheduler runs once, over every node: its summary names each node group's reason
  let placed = 0;
  const occupied = new Set(plan.kept.map((i) => i.node));
  const previous = new Set(active.map((i) => i.spec.nodeName));
  const result = resolved ? scheduleReplicas({ nodes: nodes.values(), count: plan.create, archiveTargets, nodeSelector: spec.nodeSelector, tolerations: spec.tolerations, occupied, allowMultiplePerNode: spec.allowMultiplePerNode, load, previous, avoid, tieBreak: key }) : undefined;
  if (resolved && result && result.placements.length > 0) {
    const r = resolved;
    const issuers = trustedIssuersOf(spec, deps.trustedIssuers);
    const toCreate: ProviderInstance[] = result.placements.map((pl) => ({
      apiVersion,
      kind: 'ProviderInstance',
      metadata: {
        name: instanceName(name),
        namespace: ns,
        labels: { [labels.provider]: name, [labels.node]: pl.node },
        ownerReferences: [{ apiVersion, kind: 'Provider', name, uid: p.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        provider: name,
        nodeName: pl.node,
        archive: { ref: spec.archive.ref, digest: r.digest, revision: r.revision, ...(spec.archive.pullSecrets ? { pullSecrets: spec.archive.pullSecrets } : {}) },
        target: pl.target,
        ...(r.capid ? { capid: r.capid } : {}),
        linkName: d.linkName,
        ...(spec.config ? { config: spec.config } : {}),
        ...(issuers.length ? { issuers } : {}),
      },
    }));
    let createErr: unknown;
    await deps.writes.each(toCreate, async (inst) => {
      try {
        const created = await deps.client.create<ProviderInstance>(instancesPath(ns), inst);
        deps.expectCreated(created);
        deps.metrics.placements.inc();
        placed++;
      } catch (err) {
        if (!isAlreadyExists(err)) createErr = err;
      }
    });
    if (placed) {
      log.info({ placed, revision: r.revision }, 'placed instances');
      deps.events.record(p, 'Normal', 'Placed', `created ${placed} instance(s) of revision ${r.revision}`);
    }
    if (createErr) retry = createErr;
  }

  // 5. status
  // what cannot be placed at all (independent of rollout ordering): too few eligible nodes
  const capacity = result ? (spec.allowMultiplePerNode ? (result.capacity > 0 ? Infinity : 0) : result.capacity) : 0;
  const short = result ? Math.max(0, desired - capacity, result.unplaced - Math.max(0, plan.old)) : 0;
  if (result) {
    if (short > 0 || (d.mode === 'Daemon' && desired === 0 && nodes.size > 0)) {
      const reason = result.noMatchingTarget ? 'NoMatchingTarget' : 'Unschedulable';
      const message = d.mode === 'Daemon' && desired === 0 ? `no eligible node: ${result.summary}` : `${short} of ${desired} replicas cannot be placed: ${result.summary || 'no nodes'}`;
      conditions = setCondition(conditions, { type: 'Scheduled', status: 'False', reason, message, observedGeneration: gen });
      deps.events.record(p, 'Warning', 'FailedScheduling', message);
    } else {
      conditions = setCondition(conditions, { type: 'Scheduled', status: 'True', reason: 'AllReplicasPlaced', message: result.skipped ? `other nodes skipped: ${result.skipped}` : '', observedGeneration: gen });
    }
  }
  deps.metrics.unplaced.set(short);

  const replicas = plan.kept.length + placed;
  const ready = plan.ready;
  if (resolved) {
    if (plan.complete) {
      status.progressingSince = undefined;
      conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'RolloutComplete', message: `${desired} instance(s) of revision ${resolved.revision} ready`, observedGeneration: gen });
    } else {
      const since = status.progressingSince ? Date.parse(status.progressingSince) : now;
      if (!status.progressingSince) status.progressingSince = new Date(now).toISOString();
      const deadline = d.progressDeadlineSeconds * 1000;
      if (now - since > deadline) {
        const message = `revision ${resolved.revision}: ${plan.updatedReady}/${desired} ready after ${d.progressDeadlineSeconds}s`;
        conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message, observedGeneration: gen });
        deps.events.record(p, 'Warning', 'ProgressDeadlineExceeded', message);
      } else {
        conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'RolloutInProgress', message: `revision ${resolved.revision}: ${plan.updatedReady}/${desired} updated and ready, ${plan.old} old`, observedGeneration: gen });
        requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(100, since + deadline - now + 50));
      }
    }
  }
  const allReady = desired > 0 ? ready >= desired : replicas === 0;
  conditions = setCondition(conditions, {
    type: 'Ready',
    status: allReady ? 'True' : 'False',
    reason: allReady ? 'AllReplicasReady' : 'ReplicasNotReady',
    message: `${ready}/${desired} ready`,
    observedGeneration: gen,
  });

  const next = {
    ...status,
    observedGeneration: gen,
    replicas,
    readyReplicas: ready,
    updatedReplicas: plan.updated + placed,
    desiredReplicas: desired,
    selector: `${labels.provider}=${name}`,
    ...(resolved ? { resolved } : {}),
    conditions,
  };
  if (!jsonEqual(next, p.status ?? {})) {
    try {
      await deps.client.mergePatch(providerStatusPath(ns, name), { status: { ...next, progressingSince: next.progressingSince ?? null } });
    } catch (err) {
      if (!isNotFound(err)) retry = retry ?? err;
    }
  }
  if (retry) throw retry;
  // expectations not yet observed, or something to do later: look again soon
  if (placed || plan.remove.length || !plan.complete) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, 5_000);
  return { requeueAfterMs };
}

/** The Provider's own issuers and the cluster-wide ones, each once. */
function trustedIssuersOf(spec: { trust?: { issuers?: string[] } }, clusterWide: string[]): string[] {
  return [...new Set([...(spec.trust?.issuers ?? []), ...clusterWide])];
}

function summarize(items: string[]): string {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('; ');
}

/** Deletes instances; for ones on a lost node (or when the Provider is gone) also drops finalizers no agent will ever remove. */
async function removeInstances(deps: ReconcilerDeps, items: { inst: ProviderInstance; reason: string }[], force: boolean): Promise<void> {
  let firstErr: unknown;
  await deps.writes.each(items, async ({ inst, reason }) => {
    const ns = inst.metadata.namespace!;
    const path = `${instancesPath(ns)}/${encodeURIComponent(inst.metadata.name)}`;
    try {
      await deps.client.delete(path, { propagationPolicy: 'Background' });
      deps.expectRemoved(`${ns}/${inst.metadata.name}`);
      deps.metrics.removals.inc({ reason });
      if ((lostReasons.has(reason) || (force && !deps.nodeViews().get(inst.spec.nodeName)?.agentLive)) && inst.metadata.finalizers?.length) {
        await deps.client.mergePatch(path, { metadata: { finalizers: null } });
      }
    } catch (err) {
      if (!isNotFound(err)) firstErr = firstErr ?? err;
    }
  });
  if (firstErr) throw firstErr;
}

