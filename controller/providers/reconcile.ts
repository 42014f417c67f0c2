/**
 * The Provider reconciler: one level-triggered function from (Provider, observed cluster) to
 * actions, after controller-runtime's Reconcile. It reads only caches (informers, the
 * instance index with its expectations, node views, the pull-secret cache) and never acts on
 * "what just happened", so duplicated or missed events, a restart or a leader change lose
 * nothing. A Provider gone or deleting has its instances removed; otherwise these phases, each
 * in its own file and given only what it reads:
 *
 *   resolve  (resolve.ts)   ref + revision → verified digest; failures keep the last good one
 *   template (template.ts)  archive + config (configFrom resolved) → the template to roll out to
 *   heal     (heal.ts)      instances on lost nodes/agents, failed ones → to remove
 *   roll out (rollout.ts)   plan replicas (pure); removals.ts removes what the plan removes
 *   schedule (schedule.ts)  the scheduler once over every node, then bind (create instances)
 *   status   (status.ts)    conditions from what the phases found, one status write
 *
 * Each phase is a `gantry.reconcile.<phase>` span under the reconcile's (runtime/toolkit/spans.ts).
 * A thrown error means "retry with backoff" (the work queue's); `requeueAfterMs` means "look
 * again then" (a rollout in progress, a progress deadline, expectations not yet observed).
 */
import type { ProviderInstance } from '../../api/instance.js';
import type { Provider, ResolvedArchive } from '../../api/provider.js';
import { ProviderSpec, providerDefaults } from '../../api/provider.js';
import { narrowTrust, trustProblem } from '../../api/trust.js';
import type { TrustSource } from '../../api/trust-watch.js';
import type { NamespaceMap } from '../../registry/namespaces.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { keyOf, type ObjectKey } from '../../runtime/toolkit/keys.js';
import type { WorkResult } from '../../runtime/toolkit/workqueue.js';
import { phase } from '../../runtime/toolkit/spans.js';
import type { EventRecorder } from '../events.js';
import type { ProviderHistory } from '../history/index.js';
import type { ControllerMetrics } from '../metrics.js';
import type { LogWitness } from './archive/log-witness.js';
import type { ArchiveResolver } from './archive/resolver.js';
import { StatusDraft } from './draft.js';
import type { FailedNodes } from './failed-nodes.js';
import { healPhase } from './heal.js';
import type { InstanceIndex } from './instance-index.js';
import type { NodeViews } from './node-views.js';
import { type PullCredentialWriter, pullCredentialsPhase } from './pull-credentials.js';
import type { PullSecretCache } from './pull-secret-cache.js';
import { removePlanned } from './removals.js';
import { resolvePhase } from './resolve.js';
import { planRollout } from './rollout.js';
import { bindPhase, schedulePhase } from './schedule.js';
import type { NodeView } from './scheduling/nodes.js';
import { filterNodes } from './scheduling/scheduler.js';
import { statusPhase } from './status.js';
import type { ConfigRefCache } from './config-ref-cache.js';
import { type SecretConfigWriter, secretConfigPhase } from './secret-config.js';
import { templatePhase } from './template.js';
import type { ResolvedConfig } from './config-refs.js';
import type { InstanceWriter } from './writes.js';

export interface ProviderDeps {
  providers: { get(name: string, namespace?: string): Provider | undefined };
  instances: InstanceIndex;
  nodes: Pick<NodeViews, 'all'>;
  pullSecrets: PullSecretCache;
  /** Writes each instance's narrowed pull credential into the Gantry namespace (absent: none written). */
  pullCreds?: PullCredentialWriter;
  /** The ConfigMaps and Secrets of spec.configFrom (GET only). */
  configRefs: ConfigRefCache;
  /** Seals each instance's secret config values to its node (absent: none written). */
  secretConfig?: SecretConfigWriter;
  failedNodes: FailedNodes;
  resolver: ArchiveResolver;
  /** Short names → registry repositories (the controller's --namespace-map file). */
  namespaces?: NamespaceMap;
  /** Transparency-log checks of resolved revisions (absent: logs are not read). */
  logWitness?: LogWitness;
  /** The cluster's trusted issuers (controller configuration). */
  trustedIssuers: string[];
  /** The trust policy watched at run time, in force instead of trustedIssuers when present. */
  trust?: TrustSource;
  writer: InstanceWriter;
  /** The rollout history (absent: none kept). */
  history?: ProviderHistory;
  client: KubeClient;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
}

export async function reconcileProvider(deps: ProviderDeps, providerKey: ObjectKey): Promise<WorkResult | void> {
  const key = keyOf(providerKey);
  const p = deps.providers.get(providerKey.name, providerKey.namespace);
  const owned = deps.instances.instancesOf(key);
  if (!p || p.metadata.deletionTimestamp) return phase('remove', () => removeAll(deps, key, owned));
  const log = deps.log.child({ provider: key });
  const now = Date.now();
  const draft = new StatusDraft(p);

  // 1. resolve (an invalid spec keeps the last good archive serving, as a failed resolve does)
  const { spec, resolved, trustedIssuers } = await phase('resolve', () => resolveStep(deps, draft, p, key, log));
  const d = providerDefaults(spec);
  const active = owned.filter((i) => !i.metadata.deletionTimestamp);

  // 1b. the template to roll out to (spec + archive + config); none while config does not resolve
  const choice = await phase('template', () =>
    templatePhase(draft, { ...deps, provider: p, key, spec, resolved, linkName: d.linkName, trustedIssuers, active, log }),
  );
  // 1c. history: the current template's ControllerRevision (controller/history/)
  if (deps.history) await phase('history', () => deps.history?.step(draft, p, spec, resolved, d.revisionHistoryLimit));

  // 2. heal — a daemon runs on every node that passes the filters about the node itself
  const nodes = deps.nodes.all();
  const daemonNodes = d.mode === 'Daemon' ? daemonNodesOf(nodes, spec, resolved) : undefined;
  const desired = daemonNodes ? daemonNodes.size : d.replicas;
  const load = deps.instances.load();
  let room: Set<string> | undefined; // read only if an instance was refused for its node's cap
  const roomOn = () => (room ??= nodesWithRoom(nodes, spec, resolved, { active, load, avoid: deps.failedNodes.avoided(key, now) }));
  const views = await phase('heal', () =>
    healPhase({ active, nodes, tolerations: spec.tolerations, daemonNodes, template: choice.hash, roomOn }),
  );

  // 3. roll out: plan (pure), then remove what the plan removes
  const plan = await phase('rollout', async () => {
    const planned = planRollout({ ...d, instances: views, targetTemplate: choice.hash, desired, load });
    await removePlanned(planned, { ...deps, provider: p, key, active, now });
    return planned;
  });

  // 4. schedule (once) and bind
  const { template, hash } = choice;
  const { schedule, placed } = await phase('schedule', async () => {
    const previous = new Set(active.map((i) => i.spec.nodeName));
    const avoid = deps.failedNodes.avoided(key, now);
    const schedule = resolved && hash ? schedulePhase({ key, spec, resolved, plan, nodes, load, previous, avoid }) : undefined;
    const placements = schedule?.placements ?? [];
    const placed = template && hash && schedule ? await bindPhase(draft, { ...deps, provider: p, template, hash, placements, log }) : 0;
    return { schedule, placed };
  });

  await credentialsStep(deps, draft, { providerKey, key, active, config: choice.config, log });

  // 5. status
  await phase('status', () =>
    statusPhase(draft, {
      ...deps,
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
      templateHash: hash,
      paused: choice.paused,
      now,
    }),
  );

  if (draft.retry) throw draft.retry;
  // expectations not yet observed, or something to do later: look again soon
  if (placed || plan.remove.length || !plan.complete) draft.requeueWithin(5_000);
  return { requeueAfterMs: draft.requeueAfterMs };
}

/** 4b and 4c: what each instance needs from the controller besides itself. */
async function credentialsStep(
  deps: ProviderDeps,
  draft: StatusDraft,
  o: { providerKey: ObjectKey; key: string; active: ProviderInstance[]; config: ResolvedConfig | undefined; log: Logger },
): Promise<void> {
  // 4b. each instance's own pull credential, for the agent (pull-credentials.ts)
  await phase('pull-credentials', () =>
    pullCredentialsPhase(draft, { ...deps, key: o.key, namespace: o.providerKey.namespace!, active: o.active, log: o.log }),
  );
  // 4c. each instance's secret config values, sealed to its node (secret-config.ts): those just
  // created included (the index counts them), so a new instance does not wait a reconcile for them
  const live = deps.instances.instancesOf(o.key).filter((i) => !i.metadata.deletionTimestamp);
  await phase('secret-config', () =>
    secretConfigPhase(draft, { active: live, config: o.config, secretConfig: deps.secretConfig, log: o.log }),
  );
}

/** A Provider gone or deleting: forget what was kept for it and remove its instances. */
async function removeAll(deps: ProviderDeps, key: string, owned: ProviderInstance[]): Promise<void> {
  deps.failedNodes.forget(key);
  deps.pullSecrets.forget(key);
  deps.configRefs.forget(key);
  await deps.writer.remove(
    owned.filter((i) => !i.metadata.deletionTimestamp).map((inst) => ({ inst, reason: 'ProviderDeleted' })),
    true,
  );
}

/**
 * Phase 1 with what precedes it: the spec parsed (an invalid one is `InvalidSpec` and keeps the
 * last good archive serving), the cluster's trusted issuers narrowed by spec.trust.issuers
 * (api/trust.ts), then resolve.ts.
 */
async function resolveStep(deps: ProviderDeps, draft: StatusDraft, p: Provider, key: string, log: Logger) {
  const parsed = ProviderSpec.safeParse(p.spec);
  let resolved = draft.status.resolved;
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    draft.set('Resolved', 'False', 'InvalidSpec', msg);
    deps.events.record(p, 'Warning', 'InvalidSpec', msg);
  }
  const spec = parsed.success ? parsed.data : (p.spec as ProviderSpec);
  const policy = deps.trust?.issuers ?? deps.trustedIssuers;
  const trust = narrowTrust(policy, spec.trust?.issuers);
  const trustedIssuers = trust.trusted;
  if (parsed.success)
    resolved = await resolvePhase(draft, {
      ...deps,
      provider: p,
      key,
      spec,
      trustedIssuers,
      trustProblem: trustProblem(trust, policy, 'spec.trust.issuers'),
      log,
    });
  return { spec, resolved, trustedIssuers };
}

/** Daemon mode: the nodes that pass the filters about the node itself. */
function daemonNodesOf(nodes: ReadonlyMap<string, NodeView>, spec: ProviderSpec, resolved: ResolvedArchive | undefined): Set<string> {
  return new Set(
    filterNodes(nodes.values(), {
      archiveTargets: new Set(resolved?.targets ?? []),
      nodeSelector: spec.nodeSelector,
      tolerations: spec.tolerations,
      occupied: new Set(),
    }).capable.map((n) => n.name),
  );
}

/** Nodes where one more instance of this Provider could go now (every filter passes): where a refused instance may move. */
function nodesWithRoom(
  nodes: ReadonlyMap<string, NodeView>,
  spec: ProviderSpec,
  resolved: ResolvedArchive | undefined,
  o: { active: ProviderInstance[]; load: ReadonlyMap<string, number>; avoid: ReadonlySet<string> },
): Set<string> {
  if (!resolved) return new Set();
  const { eligible } = filterNodes(nodes.values(), {
    archiveTargets: new Set(resolved.targets),
    nodeSelector: spec.nodeSelector,
    tolerations: spec.tolerations,
    occupied: new Set(o.active.map((i) => i.spec.nodeName)),
    allowMultiplePerNode: spec.allowMultiplePerNode,
    load: o.load,
    avoid: o.avoid,
  });
  return new Set(eligible.map((n) => n.name));
}
