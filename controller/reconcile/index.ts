/**
 * The Provider reconciler: one level-triggered function from (Provider, observed cluster) to
 * actions, after controller-runtime's Reconcile. It reads only caches (informers, the
 * instance index with its expectations, node views, the pull-secret cache) and never acts on
 * "what just happened", so duplicated or missed events, a restart or a leader change lose
 * nothing. A Provider gone or deleting has its instances removed; otherwise five phases, each
 * in its own file and given only what it reads:
 *
 *   resolve  (resolve.ts)   ref + revision → verified digest; failures keep the last good one
 *   heal     (heal.ts)      instances on lost nodes/agents, failed ones → to remove
 *   roll out (rollout.ts)   plan replicas, remove, remember nodes where an instance failed
 *   schedule (schedule.ts)  the scheduler once over every node, then bind (create instances)
 *   status   (status.ts)    conditions from what the phases found, one status write
 *
 * A thrown error means "retry with backoff" (the work queue's); `requeueAfterMs` means "look
 * again then" (a rollout in progress, a progress deadline, expectations not yet observed).
 */
import type { Provider } from '../../api/provider.js';
import type { ProviderInstance } from '../../api/instance.js';
import { ProviderSpec, providerDefaults } from '../../api/provider.js';
import type { Logger } from '../../runtime/log.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { EventRecorder } from '../events.js';
import type { FailedNodes } from '../failed-nodes.js';
import type { InstanceIndex } from '../instance-index.js';
import type { ControllerMetrics } from '../metrics.js';
import type { NodeViews } from '../node-views.js';
import type { PullSecretCache } from '../pull-secret-cache.js';
import type { InstancePullCredentials } from '../instance-pull-creds.js';
import type { ArchiveResolver } from '../resolve.js';
import type { NamespaceMap } from '../../registry/namespaces.js';
import type { LogWitness } from '../log-witness.js';
import { filterNodes } from '../scheduling/schedule.js';
import type { WorkResult } from '../../runtime/toolkit/workqueue.js';
import { StatusDraft } from './draft.js';
import { healPhase } from './heal.js';
import { resolvePhase } from './resolve.js';
import { rolloutPhase } from './rollout.js';
import { bindPhase, schedulePhase } from './schedule.js';
import { statusPhase } from './status.js';
import type { InstanceWriter } from './writes.js';
import { narrowTrust, trustProblem, type TrustInForce } from '../../api/trust.js';

export interface ReconcilerDeps {
  providers: { get(name: string, namespace?: string): Provider | undefined };
  instances: InstanceIndex;
  nodes: Pick<NodeViews, 'all'>;
  pullSecrets: PullSecretCache;
  /** Writes each instance's narrowed pull credential into the Gantry namespace (absent: none written). */
  pullCreds?: InstancePullCredentials;
  failedNodes: FailedNodes;
  resolver: ArchiveResolver;
  /** Short names → registry repositories (the controller's --namespace-map file). */
  namespaces?: NamespaceMap;
  /** Transparency-log checks of resolved revisions (absent: logs are not read). */
  logWitness?: LogWitness;
  /** The cluster's trusted issuers (controller configuration). */
  trustedIssuers: string[];
  writer: InstanceWriter;
  client: KubeClient;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
}

export async function reconcileProvider(deps: ReconcilerDeps, key: string): Promise<WorkResult | void> {
  const [ns, name] = key.split('/');
  const p = deps.providers.get(name, ns);
  const owned = deps.instances.instancesOf(key);
  if (!p || p.metadata.deletionTimestamp) {
    deps.failedNodes.forget(key);
    deps.pullSecrets.forget(key);
    await deps.writer.remove(
      owned.filter((i) => !i.metadata.deletionTimestamp).map((inst) => ({ inst, reason: 'ProviderDeleted' })),
      true,
    );
    return;
  }
  const log = deps.log.child({ provider: key });
  const now = Date.now();
  const draft = new StatusDraft(p);
  const parsed = ProviderSpec.safeParse(p.spec);

  // 1. resolve (an invalid spec keeps the last good archive serving, as a failed resolve does)
  let resolved = draft.status.resolved;
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    draft.set('Resolved', 'False', 'InvalidSpec', msg);
    deps.events.record(p, 'Warning', 'InvalidSpec', msg);
  }
  const spec = parsed.success ? parsed.data : (p.spec as ProviderSpec);
  const trust = trustOf(spec, deps.trustedIssuers);
  const trustedIssuers = trust.trusted;
  if (parsed.success)
    resolved = await resolvePhase(draft, {
      provider: p,
      key,
      spec,
      trustedIssuers,
      trustProblem: trustProblem(trust, deps.trustedIssuers, 'spec.trust.issuers'),
      pullSecrets: deps.pullSecrets,
      resolver: deps.resolver,
      namespaces: deps.namespaces,
      logWitness: deps.logWitness,
      events: deps.events,
      metrics: deps.metrics,
      log,
    });
  const d = providerDefaults(spec);

  // 2. heal — a daemon runs on every node that passes the filters about the node itself
  const nodes = deps.nodes.all();
  const active = owned.filter((i) => !i.metadata.deletionTimestamp);
  const daemonNodes =
    d.mode === 'Daemon'
      ? new Set(
          filterNodes(nodes.values(), {
            archiveTargets: new Set(resolved?.targets ?? []),
            nodeSelector: spec.nodeSelector,
            tolerations: spec.tolerations,
            occupied: new Set(),
          }).capable.map((n) => n.name),
        )
      : undefined;
  const desired = daemonNodes ? daemonNodes.size : d.replicas;
  const views = healPhase({ active, nodes, tolerations: spec.tolerations, daemonNodes, digest: resolved?.digest });

  // 3. roll out
  const load = deps.instances.load();
  const plan = await rolloutPhase({
    provider: p,
    key,
    views,
    active,
    targetDigest: resolved?.digest,
    desired,
    maxSurge: d.maxSurge,
    maxUnavailable: d.maxUnavailable,
    load,
    writer: deps.writer,
    events: deps.events,
    failedNodes: deps.failedNodes,
    now,
  });

  // 4. schedule (once) and bind
  const schedule = resolved
    ? schedulePhase({
        key,
        spec,
        resolved,
        plan,
        nodes,
        load,
        previous: new Set(active.map((i) => i.spec.nodeName)),
        avoid: deps.failedNodes.avoided(key, now),
      })
    : undefined;
  const placed =
    resolved && schedule
      ? await bindPhase(draft, {
          provider: p,
          spec,
          resolved,
          placements: schedule.placements,
          linkName: d.linkName,
          trustedIssuers,
          writer: deps.writer,
          events: deps.events,
          log,
        })
      : 0;

  // 4b. each instance's own pull credential, for the agent (instance-pull-creds.ts)
  if (deps.pullCreds) await pullCredsPhase(deps, key, ns, active, draft, log);

  // 5. status
  await statusPhase(draft, {
    provider: p,
    resolved,
    mode: d.mode,
    allowMultiplePerNode: spec.allowMultiplePerNode,
    desired,
    plan,
    schedule,
    placed,
    nodeCount: nodes.size,
    progressDeadlineSeconds: d.progressDeadlineSeconds,
    now,
    client: deps.client,
    events: deps.events,
    metrics: deps.metrics,
  });

  if (draft.retry) throw draft.retry;
  // expectations not yet observed, or something to do later: look again soon
  if (placed || plan.remove.length || !plan.complete) draft.requeueWithin(5_000);
  return { requeueAfterMs: draft.requeueAfterMs };
}

/**
 * For each live instance naming pull secrets (its own copy of the names, which may be an older
 * revision's during a rollout), the narrowed credential or the refusal; a secret still being
 * read is skipped (the cache enqueues this Provider when it arrives). A failed write is retried.
 */
async function pullCredsPhase(
  deps: ReconcilerDeps,
  key: string,
  ns: string,
  active: ProviderInstance[],
  draft: StatusDraft,
  log: Logger,
): Promise<void> {
  for (const inst of active) {
    const names = (inst.spec.archive.pullSecrets ?? []).map((s) => s.name);
    if (!names.length || !inst.metadata.uid) continue;
    const source = deps.pullSecrets.lookup(key, ns, names);
    if (!source) {
      draft.requeueWithin(5_000);
      continue;
    }
    try {
      const again = await deps.pullCreds!.ensure(inst, source);
      if (again !== undefined) draft.requeueWithin(again); // a pull token to refresh
    } catch (err) {
      log.warn({ instance: inst.metadata.name, err: (err as Error).message }, 'cannot write the instance pull credential; will retry');
      draft.requeueWithin(2_000);
    }
  }
}

/** The cluster's trusted issuers narrowed by the Provider's spec.trust.issuers (api/trust.ts). */
function trustOf(spec: { trust?: { issuers?: string[] } }, clusterWide: string[]): TrustInForce {
  return narrowTrust(clusterWide, spec.trust?.issuers);
}
