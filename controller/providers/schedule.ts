/**
 * Phase 4, schedule: the scheduler (scheduling/) runs once, over every node, for the replicas
 * the plan creates — nodes this Provider already runs on and nodes it recently failed on are
 * filtered there too, so its summary names every node group's reason and the status phase
 * reports it as is. Then bind: create one ProviderInstance per placement.
 */
import { randomBytes } from 'node:crypto';
import { apiVersion, labels } from '../../api/common.js';
import type { ProviderInstance } from '../../api/instance.js';
import { type Provider, type ProviderSpec as Spec, type ResolvedArchive, providerDefaults } from '../../api/provider.js';
import type { InstanceTemplate } from './template-hash.js';
import type { Logger } from '../../runtime/log.js';
import type { EventRecorder } from '../events.js';
import type { RolloutPlan } from './rollout.js';
import type { NodeView } from './scheduling/nodes.js';
import { scheduleOverGroups } from './scheduling/groups.js';
import { scheduleReplicas, type Placement, type ScheduleResult } from './scheduling/scheduler.js';
import type { StatusDraft } from './draft.js';
import type { InstanceWriter } from './writes.js';

export interface ScheduleInput {
  key: string;
  spec: Spec;
  resolved: ResolvedArchive;
  plan: RolloutPlan;
  nodes: ReadonlyMap<string, NodeView>;
  load: ReadonlyMap<string, number>;
  /** Nodes any instance of this Provider is on now (kept ones are preferred). */
  previous: ReadonlySet<string>;
  avoid: ReadonlySet<string>;
}

export function schedulePhase(o: ScheduleInput): ScheduleResult {
  const daemon = o.spec.mode === 'Daemon';
  const instances = new Map<string, number>();
  for (const i of o.plan.kept) instances.set(i.node, (instances.get(i.node) ?? 0) + 1);
  const input = {
    nodes: o.nodes.values(),
    count: o.plan.create,
    archiveTargets: new Set(o.resolved.targets),
    nodeSelector: o.spec.nodeSelector,
    tolerations: o.spec.tolerations,
    occupied: new Set(o.plan.kept.map((i) => i.node)),
    allowMultiplePerNode: o.spec.allowMultiplePerNode,
    load: o.load,
    previous: o.previous,
    avoid: o.avoid,
    tieBreak: o.key,
    // a daemon runs on every eligible node: spreading does not apply (docs/controller.md)
    topologySpread: daemon ? undefined : o.spec.topologySpread,
    instances,
  };
  // weighted groups divide what the Provider should run in all, not just what this pass creates
  const desired = providerDefaults(o.spec).replicas;
  return o.spec.spread && !daemon ? scheduleOverGroups({ ...input, groups: o.spec.spread, desired }) : scheduleReplicas(input);
}

export interface BindInput {
  provider: Provider;
  /** What each instance is made of (template.ts), and its hash (the instances' template-hash label). */
  template: InstanceTemplate;
  hash: string;
  placements: Placement[];
  writer: InstanceWriter;
  events: EventRecorder;
  log: Logger;
}

/** Creates an instance per placement; how many were created. */
export async function bindPhase(draft: StatusDraft, o: BindInput): Promise<number> {
  if (o.placements.length === 0) return 0;
  const p = o.provider;
  const name = p.metadata.name;
  const ns = p.metadata.namespace!;
  const { template, hash } = o;
  const revision = template.archive.revision;
  const items: ProviderInstance[] = o.placements.map((pl) => ({
    apiVersion,
    kind: 'ProviderInstance',
    metadata: {
      name: instanceName(name),
      namespace: ns,
      labels: { [labels.provider]: name, [labels.node]: pl.node, [labels.templateHash]: hash },
      ownerReferences: [{ apiVersion, kind: 'Provider', name, uid: p.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...template, nodeName: pl.node, target: pl.target },
  }));
  const { created, err } = await o.writer.create(ns, items);
  if (created) {
    o.log.info({ placed: created, revision, template: hash }, 'placed instances');
    o.events.record(p, 'Normal', 'Placed', `created ${created} instance(s) of revision ${revision} (template ${hash})`);
  }
  if (err) {
    // placed nowhere the API will not store: Scheduled says so, with the server's own words
    const { reason, message } = err as { reason?: string; message?: string };
    draft.createRefused = `${items.length - created} of ${items.length} instance creates refused by the API server (${reason ?? 'error'}): ${message ?? String(err)}`;
    draft.retryWith(err);
  }
  return created;
}

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
