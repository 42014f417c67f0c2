/**
 * What the scheduler knows about a node: a view built from the Node object and the node's
 * agent Lease (`gantry-agent-<node>`), so filters stay pure functions of plain data.
 */
import { annotations, nodePlatform, targetForNode } from '../../../api/common.js';

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | string;
}

export interface NodeView {
  name: string;
  labels: Record<string, string>;
  /** "arm64/linux", for grouping messages. */
  platform: string;
  ready: boolean;
  unschedulable: boolean;
  taints: Taint[];
  /** The PAR target this node can load: the agent's published one, else from arch/os labels. */
  target?: string;
  /** An agent Lease renewed within the grace period. */
  agentLive: boolean;
  /** When the agent lease stops counting as live (ms since epoch), if there is one. */
  agentExpiresAt?: number;
  /**
   * How many instances the node's agent runs at most (its Lease's `gantry.dev/max-instances`);
   * absent when the agent publishes no cap (an older agent), NaN when the value is not a whole
   * number ≥ 0 — the NodeFull filter then keeps the node out (fail closed).
   */
  maxInstances?: number;
}

/** The published cap: undefined when none, NaN when it is not a whole number ≥ 0. */
export function parseMaxInstances(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^[0-9]{1,9}$/.test(v) ? Number(v) : Number.NaN;
}

export interface LeaseLike {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseDurationSeconds?: number };
}

export interface NodeLike {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: { conditions?: { type: string; status: string }[] };
}

export function leaseRenewedAt(lease: LeaseLike | undefined): number | undefined {
  const t = lease?.spec?.renewTime ?? lease?.spec?.acquireTime;
  if (!t) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The longest a handover may keep a node's agent from being called lost, past the grace of its last renewal. */
export const MAX_HANDOVER_MS = 120_000;

/**
 * When the node's agent counts as lost: its last renewal plus the grace, or, when the agent
 * stopped and left its hosts to the host keeper for a successor to adopt (a DaemonSet pod
 * replaced), the end of the handover it wrote — never more than MAX_HANDOVER_MS past the grace.
 */
export function agentExpiresAt(lease: LeaseLike | undefined, graceMs: number): number | undefined {
  const renewed = leaseRenewedAt(lease);
  if (renewed === undefined) return undefined;
  // a Lease is there once it was renewed; any missing or non-date value parses to NaN, as '' does
  // Stryker disable next-line OptionalChaining,StringLiteral
  const handover = Date.parse(lease?.metadata.annotations?.[annotations.agentHandoverUntil] ?? '');
  if (!Number.isFinite(handover)) return renewed + graceMs;
  return Math.max(renewed + graceMs, Math.min(handover, renewed + graceMs + MAX_HANDOVER_MS));
}

export function nodeView(node: NodeLike, lease: LeaseLike | undefined, graceMs: number, now: number): NodeView {
  const labels = node.metadata.labels ?? {};
  const ready = (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const expiresAt = agentExpiresAt(lease, graceMs);
  return {
    name: node.metadata.name,
    labels,
    platform: nodePlatform(labels),
    ready,
    unschedulable: !!node.spec?.unschedulable,
    taints: node.spec?.taints ?? [],
    target: lease?.metadata.annotations?.[annotations.agentTarget] || targetForNode(labels),
    agentLive: expiresAt !== undefined && expiresAt > now,
    agentExpiresAt: expiresAt,
    maxInstances: parseMaxInstances(lease?.metadata.annotations?.[annotations.agentMaxInstances]),
  };
}
