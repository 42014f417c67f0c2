/**
 * Phase 2, heal: which of a Provider's instances must go now, and why — its node is gone,
 * NotReady, tainted NoExecute or its agent lost (scheduling/filters.ts lostReason), it
 * failed, its agent refused it for its instance cap (InstanceLimit) or its node is cordoned
 * (NodeCordoned: `kubectl drain` evicts pods, and an instance is not one) while another node has
 * room, or (Daemon mode) its node no longer qualifies. Pure: the rollout phase removes them.
 */
import type { ProviderInstance } from '../../api/instance.js';
import type { Toleration } from '../../api/provider.js';
import type { RemovalReason } from '../../api/reasons.js';
import type { InstanceView } from './rollout.js';
import { lostReason } from './scheduling/filters.js';
import { templateHashOf } from './template-hash.js';
import type { NodeView } from './scheduling/nodes.js';

export interface HealInput {
  /** The Provider's instances that are not already being deleted. */
  active: ProviderInstance[];
  nodes: ReadonlyMap<string, NodeView>;
  tolerations?: Toleration[];
  /** Daemon mode: the nodes a daemon should run on (an instance elsewhere of the served template goes). */
  daemonNodes?: ReadonlySet<string>;
  /** The template being rolled out to (template-hash.ts), if any. */
  template?: string;
  /**
   * Nodes with room for one more instance of this Provider (every scheduling filter passes):
   * an instance its agent refused moves only if one of them is another node; absent, none moves.
   */
  roomOn?(): ReadonlySet<string>;
}

/** The agent will not run it (its --max-instances is reached): it waits there until it moves or room frees up. */
export const refusedByAgent = (i: ProviderInstance) => i.status?.phase === 'Pending' && i.status.reason === 'InstanceLimit';

export function healPhase(o: HealInput): InstanceView[] {
  return o.active.map((i) => {
    let removeReason: RemovalReason | undefined = lostReason(o.nodes.get(i.spec.nodeName), o.tolerations);
    if (!removeReason && i.status?.phase === 'Failed') removeReason = 'InstanceFailed';
    if (!removeReason && refusedByAgent(i) && roomElsewhere(o, i.spec.nodeName)) removeReason = 'InstanceLimit';
    // Replicas mode only: a daemon's node that stops qualifying is NodeIneligible below
    // Stryker disable next-line OptionalChaining: a node missing from the map is NodeDeleted above (lostReason), never reaches here
    if (!removeReason && !o.daemonNodes && o.nodes.get(i.spec.nodeName)?.unschedulable && roomElsewhere(o, i.spec.nodeName))
      removeReason = 'NodeCordoned';
    const template = templateHashOf(i.spec);
    if (!removeReason && o.daemonNodes && o.template && !o.daemonNodes.has(i.spec.nodeName) && template === o.template)
      removeReason = 'NodeIneligible';
    return {
      name: i.metadata.name,
      node: i.spec.nodeName,
      template,
      // Running with Ready=False is a provider that says it cannot serve (ProviderUnhealthy)
      ready: i.status?.phase === 'Running' && !i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'False'),
      removeReason,
      createdAt: i.metadata.creationTimestamp ?? '',
    };
  });
}

function roomElsewhere(o: HealInput, node: string): boolean {
  for (const n of o.roomOn?.() ?? []) if (n !== node) return true;
  return false;
}
