/**
 * Scheduling filters, one per thing a user would recognise (after kube-scheduler's plugins).
 * Each returns undefined when the node passes, or a reason phrase that ends up, grouped by
 * node platform, in the `Scheduled` condition and the FailedScheduling Event.
 */
import type { Toleration } from '../../../api/provider.js';
import type { TopologySpreadConstraint } from '../../../api/spread.js';
import { annotations } from '../../../api/common.js';
import { LOST_REASONS, type LostReason } from '../../../api/reasons.js';
import type { NodeView, Taint } from './nodes.js';

export interface PlacementRequest {
  /** Targets with a signed hash in the archive, e.g. {'x86_64-linux'}. */
  archiveTargets: ReadonlySet<string>;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  /** Nodes already running an instance of this Provider. */
  occupied: ReadonlySet<string>;
  allowMultiplePerNode?: boolean;
  /** Nodes where an instance of this Provider failed recently (back off from them). */
  avoid?: ReadonlySet<string>;
  /** Gantry instances per node, all Providers (the NodeFull filter; none counted when absent). */
  load?: ReadonlyMap<string, number>;
  /** Spread over these node label domains (spread.ts). */
  topologySpread?: readonly TopologySpreadConstraint[];
  /** This Provider's live instances per node: what topology spread counts. */
  instances?: ReadonlyMap<string, number>;
}

export interface Filter {
  name: string;
  check(node: NodeView, req: PlacementRequest): string | undefined;
  /**
   * True for a filter that turns a node away because of the instances that run (or failed)
   * there, not because of what the node is: such a node still counts toward the Provider's
   * capacity, and is not "skipped" in a steady-state message.
   */
  occupancy?: boolean;
}

export function tolerates(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (!t.key) return t.operator === 'Exists';
    if (t.key !== taint.key) return false;
    return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
  });
}

function describeTaint(t: Taint): string {
  return `${t.key}${t.value ? '=' + t.value : ''}:${t.effect}`;
}

export const nodeReady: Filter = {
  name: 'NodeReady',
  check: (n) => (n.ready ? undefined : 'node is not Ready'),
};

export const nodeUnschedulable: Filter = {
  name: 'NodeUnschedulable',
  check: (n) => (n.unschedulable ? 'node is cordoned' : undefined),
};

export const taintToleration: Filter = {
  name: 'TaintToleration',
  check: (n, req) => {
    const bad = n.taints.find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(req.tolerations, t));
    return bad ? `untolerated taint ${describeTaint(bad)}` : undefined;
  },
};

export const nodeSelector: Filter = {
  name: 'NodeSelector',
  check: (n, req) => {
    for (const [k, v] of Object.entries(req.nodeSelector ?? {})) if (n.labels[k] !== v) return `does not match nodeSelector ${k}=${v}`;
    return undefined;
  },
};

export const archiveTarget: Filter = {
  name: 'ArchiveTarget',
  check: (n, req) => {
    if (!n.target) return 'unknown arch/os (labels kubernetes.io/arch, kubernetes.io/os)';
    return req.archiveTargets.has(n.target) ? undefined : `archive has no ${n.target} binary`;
  },
};

export const agentLive: Filter = {
  name: 'AgentLive',
  check: (n) => (n.agentLive ? undefined : 'no live Gantry agent'),
};

export const onePerNode: Filter = {
  name: 'OnePerNode',
  occupancy: true,
  check: (n, req) => (!req.allowMultiplePerNode && req.occupied.has(n.name) ? 'already runs an instance of this Provider' : undefined),
};

/**
 * The node's agent runs as many instances as its Lease says it will (`--max-instances`): one
 * more would only wait there (InstanceLimit). An occupancy filter: a node full of this
 * Provider's own instances still counts toward its capacity.
 */
export const nodeFull: Filter = {
  name: 'NodeFull',
  occupancy: true,
  check: (n, req) => {
    const max = n.maxInstances;
    if (max === undefined) return undefined;
    if (Number.isNaN(max)) return `node is full: its agent Lease has no valid ${annotations.agentMaxInstances}`;
    const load = req.load?.get(n.name) ?? 0;
    return load < max ? undefined : `node is full (${load} of its agent's ${max} instances)`;
  },
};

export const recentFailure: Filter = {
  name: 'RecentFailure',
  occupancy: true,
  check: (n, req) => (req.avoid?.has(n.name) ? 'an instance failed here recently' : undefined),
};

/** In order: the first failing filter names the reason. */
export const defaultFilters: Filter[] = [
  nodeReady,
  nodeUnschedulable,
  taintToleration,
  nodeSelector,
  archiveTarget,
  agentLive,
  onePerNode,
  nodeFull,
  recentFailure,
];

/** Every reason lostReason gives: no agent will run there to remove the instance's finalizer. */
export const lostReasons: ReadonlySet<string> = new Set<string>(LOST_REASONS);

/** Why an already-placed instance must leave its node (heal), or undefined to keep it. */
export function lostReason(n: NodeView | undefined, tolerations: Toleration[] | undefined): LostReason | undefined {
  if (!n) return 'NodeDeleted';
  if (!n.ready) return 'NodeNotReady';
  if (n.taints.some((t) => t.effect === 'NoExecute' && !tolerates(tolerations, t))) return 'NoExecuteTaint';
  if (!n.agentLive) return 'AgentLost';
  return undefined;
}
