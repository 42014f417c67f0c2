/**
 * The Provider reconciler's registration with the manager (manager.ts): the caches its
 * reconcile (reconcile.ts) reads and which events enqueue which Provider keys. Events only
 * update caches and enqueue:
 *   - Providers: a spec change (generation), deletion or a first sight — not our own status writes;
 *   - ProviderInstances: through the instance index (instance-index.ts: expectations; an update
 *     only when phase, deletion or finalizers changed, bursts within 50 ms share one reconcile);
 *   - Nodes: a change of what scheduling reads (labels, cordon, taints, Ready) → every Provider;
 *   - agent Leases: through the node views (node-views.ts): an agent live again → every
 *     Provider, an agent lost → the Providers with an instance on its node;
 *   - a pull secret read that changed (pull-secret-cache.ts) → the Providers that named it;
 *   - a configFrom ConfigMap or Secret read that changed (config-ref-cache.ts) → the Providers that named it.
 *
 *   manager.register(providersReconciler({ informers: manager, … }));
 */
import { agentLeaseName, type Provider, type ProviderInstance } from '../../api/index.js';
import type { TrustWatch } from '../../api/trust-watch.js';
import type { Informer } from '../../runtime/informer.js';
import type { NamespaceMap } from '../../registry/namespaces.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import type { ObjectKey } from '../../runtime/toolkit/keys.js';
import { Limiter } from '../../runtime/toolkit/limiter.js';
import type { WorkResult } from '../../runtime/toolkit/workqueue.js';
import type { EventRecorder } from '../events.js';
import { type InformerSource, instanceInformer, providerInformer, revisionInformer } from '../informers.js';
import { ProviderHistory } from '../history/index.js';
import type { KeyQueue, Reconciler } from '../manager.js';
import type { ControllerMetrics } from '../metrics.js';
import type { LogWitness } from './archive/log-witness.js';
import type { ArchiveResolver } from './archive/resolver.js';
import { FailedNodes } from './failed-nodes.js';
import { InstanceIndex } from './instance-index.js';
import { NodeViews } from './node-views.js';
import type { PullCredentialWriter } from './pull-credentials.js';
import { PullSecretCache } from './pull-secret-cache.js';
import { ConfigRefCache } from './config-ref-cache.js';
import type { SecretConfigWriter } from './secret-config.js';
import { type ProviderDeps, reconcileProvider } from './reconcile.js';
import { inSpan, reconcileAttrs } from '../../runtime/toolkit/spans.js';
import { Spans } from '../../runtime/tracing/index.js';
import type { LeaseLike, NodeLike } from './scheduling/nodes.js';
import { InstanceWriter } from './writes.js';

export interface ProvidersOptions {
  informers: InformerSource;
  /** The Gantry namespace (agent Leases). */
  namespace: string;
  /** Reconciles at once, and API writes in flight over all of them. */
  concurrency: number;
  writeConcurrency: number;
  /** An agent Lease not renewed for this long marks its node lost. */
  agentLeaseGraceMs: number;
  pullSecretTtlMs?: number;
  pullCreds?: PullCredentialWriter;
  /** How long a configFrom object read counts as fresh (default 10 s): how soon a rotated Secret is noticed. */
  configRefTtlMs?: number;
  secretConfig?: SecretConfigWriter;
  resolver: ArchiveResolver;
  namespaces?: NamespaceMap;
  logWitness?: LogWitness;
  trustedIssuers: string[];
  /** The trust policy watched at run time (--trust-configmap): in force instead of trustedIssuers; a change reconciles every Provider. */
  trust?: TrustWatch;
  client: KubeClient;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
}

const expectationTtlMs = 60_000;
/** Instance status changes within this window share one reconcile of their Provider. */
const coalesceMs = 50;

type NodeObject = NodeLike & { metadata: { name: string } };
type LeaseObject = LeaseLike & { metadata: { name: string } };

export const nodeInformer = (s: InformerSource) => s.informer<NodeObject>('nodes', '/api/v1/nodes', { pageSize: 2000 });

export const agentLeaseInformer = (s: InformerSource, namespace: string) =>
  s.informer<LeaseObject>('agent-leases', `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`, {
    pageSize: 2000,
  });

/** What scheduling reads of a Node: a heartbeat that changes none of it enqueues nothing. */
const nodeSig = (n: NodeLike) =>
  JSON.stringify([
    n.metadata.labels,
    n.spec?.unschedulable,
    n.spec?.taints,
    (n.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status,
  ]);

export function providersReconciler(o: ProvidersOptions): Reconciler {
  return new ProvidersReconciler(o);
}

class ProvidersReconciler implements Reconciler {
  readonly name = 'providers';
  readonly concurrency: number;
  private readonly providers: Informer<Provider>;
  private readonly instances: Informer<ProviderInstance>;
  private readonly nodes: Informer<NodeObject>;
  private readonly leases: Informer<LeaseObject>;
  private readonly index = new InstanceIndex(expectationTtlMs);
  private readonly views: NodeViews;
  private readonly pullSecrets: PullSecretCache;
  private readonly configRefs: ConfigRefCache;
  private readonly deps: ProviderDeps;
  private queue!: KeyQueue;

  constructor(private readonly o: ProvidersOptions) {
    this.concurrency = o.concurrency;
    this.providers = providerInformer(o.informers);
    this.instances = instanceInformer(o.informers);
    this.nodes = nodeInformer(o.informers);
    this.leases = agentLeaseInformer(o.informers, o.namespace);
    this.views = new NodeViews({
      node: (name) => this.nodes.get(name),
      lease: (node) => this.leases.get(agentLeaseName(node), o.namespace),
      graceMs: o.agentLeaseGraceMs,
      onAgentLive: () => this.resync(),
      onAgentLost: (node) => {
        for (const pk of this.index.providersOn(node)) this.queue.add(pk);
      },
    });
    this.pullSecrets = new PullSecretCache(o.client, (pk) => this.queue.add(pk), { ttlMs: o.pullSecretTtlMs });
    this.configRefs = new ConfigRefCache(o.client, (pk) => this.queue.add(pk), o.configRefTtlMs);
    const agentLive = (node: string) => !!this.views.all().get(node)?.agentLive;
    this.deps = {
      ...o,
      providers: this.providers,
      instances: this.index,
      nodes: this.views,
      pullSecrets: this.pullSecrets,
      configRefs: this.configRefs,
      failedNodes: new FailedNodes(),
      history: new ProviderHistory(o.client, revisionInformer(o.informers)),
      writer: new InstanceWriter(o.client, new Limiter(o.writeConcurrency), this.index, o.metrics, agentLive),
    };
  }

  watch(q: KeyQueue): void {
    this.queue = q;
    const { index, views } = this;
    const enqueue = (pk: string | undefined, afterMs?: number) => {
      if (pk !== undefined) q.add(pk, afterMs);
    };
    this.instances.addHandler({
      add: (i) => enqueue(index.observeAdd(i)),
      // bursts of status updates (agents starting many instances) coalesce into one reconcile
      update: (i, old) => enqueue(index.observeUpdate(i, old), coalesceMs),
      delete: (i) => enqueue(index.observeDelete(i)),
    });
    this.providers.addHandler({
      add: (p) => q.add(p),
      update: (p, old) => {
        // status-only writes (our own) need no reconcile
        const m = p.metadata;
        if (m.generation !== old.metadata.generation || m.deletionTimestamp !== old.metadata.deletionTimestamp || !old.metadata.generation)
          q.add(p);
      },
      delete: (p) => q.add(p),
    });
    const nodeChanged = (name: string) => {
      views.nodeChanged(name);
      this.resync();
    };
    this.nodes.addHandler({
      add: (n) => nodeChanged(n.metadata.name),
      update: (n, old) => {
        if (nodeSig(n) !== nodeSig(old)) nodeChanged(n.metadata.name);
      },
      delete: (n) => nodeChanged(n.metadata.name),
    });
    // narrowed: what no longer resolves places nothing new; widened: what was refused places again
    this.o.trust?.onChange(() => this.resync());
    this.leases.addHandler({
      add: (l) => views.leaseChanged(l),
      update: (l) => views.leaseChanged(l),
      delete: (l) => views.leaseChanged(l, true),
    });
  }

  /** Every Provider, and every Provider key that still controls an instance. */
  resync(): void {
    for (const p of this.providers.list()) this.queue.add(p);
    for (const pk of this.index.providerKeys()) this.queue.add(pk);
  }

  async reconcile(key: ObjectKey, q: KeyQueue): Promise<WorkResult | undefined> {
    const end = this.o.metrics.reconcileDuration.startTimer();
    try {
      const r = await inSpan(Spans.reconcile, reconcileAttrs('Provider', key), () => reconcileProvider(this.deps, key));
      end({ result: 'ok' });
      return r ?? undefined;
    } catch (err) {
      end({ result: 'error' });
      throw err;
    } finally {
      this.o.metrics.queueDepth.set(q.depth);
    }
  }

  failed(key: string, err: unknown, attempt: number): void {
    this.o.metrics.failures.inc({ reason: 'ReconcileError' });
    this.o.log.warn({ provider: key, attempt, err: (err as Error).message }, 'reconcile failed; will retry');
  }

  stop(): void {
    this.views.stop();
    this.pullSecrets.stop();
    this.configRefs.stop();
  }
}
