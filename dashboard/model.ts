/**
 * What the dashboard shows: one snapshot of the cluster as the user may see it, built on the
 * server from watches made with the user's own credentials and sent to the page whole (JSON,
 * GET /api/state and every `state` event of GET /api/events). The page renders only this; the
 * browser test and the bench read the same shape. Every list is sorted (namespace, then name)
 * so two snapshots of the same cluster are the same bytes.
 *
 * A part the user may not read (403), or that failed, is not left out silently: it is empty and
 * `unavailable` says which and why, and the page shows that in its place.
 */

export const DASHBOARD_STATE_VERSION = 1;

export interface DashboardState {
  version: typeof DASHBOARD_STATE_VERSION;
  /** When the server built this snapshot (RFC 3339). */
  at: string;
  /** Which cluster and user the dashboard acts as (kubeconfig current-context, server URL, user name). */
  cluster: { context: string; server: string; user: string };
  providers: ProviderView[];
  nodes: NodeView[];
  /** Transparency-log health, one row per archive repository (from the Providers' status.log and conditions). */
  logs: LogView[];
  grants: GrantView[];
  /** Parts that could not be read: e.g. { part: 'grants', reason: 'Forbidden', message: '… cannot list capabilitygrants …' }. */
  unavailable: { part: DashboardPart; reason: string; message: string }[];
}

export type DashboardPart = 'providers' | 'instances' | 'nodes' | 'grants' | 'metrics';

export interface ConditionView {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface ProviderView {
  namespace: string;
  name: string;
  /** spec.replicas and status.readyReplicas / updatedReplicas. */
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  /** The resolved archive: ref, revision, digest (status.resolved). */
  archive?: { ref: string; revision?: number; digest?: string };
  conditions: ConditionView[];
  /** status.autoscale when spec.autoscale is set. */
  autoscale?: { min: number; max: number; desiredReplicas?: number; reason?: string; callsPerSecond?: string; inFlight?: string };
  /** From the agents' call metrics (absent when no agent's metrics could be read). */
  calls?: CallFigures;
}

/** Calls of one Provider summed over its instances, over the server's last scrape interval. */
export interface CallFigures {
  /** Calls per second (all codes). */
  rate: number;
  /** Failed calls per second (code ≠ OK). */
  errorRate: number;
  /** Counts by code since the agents started (cumulative), e.g. { OK: 120, OVERLOADED: 3 }. */
  totals: Record<string, number>;
  /** Latency quantiles estimated from the histogram buckets (ms); absent without calls. */
  p50Ms?: number;
  p99Ms?: number;
  inFlight: number;
}

export interface NodeView {
  name: string;
  /** `<arch>-<os>` (the node's gantry.dev/arch-os label or status.nodeInfo). */
  archOs: string;
  ready: boolean;
  /** The node's taints and whether it is cordoned (spec.unschedulable). */
  unschedulable: boolean;
  instances: InstanceView[];
}

export interface InstanceView {
  namespace: string;
  /** The ProviderInstance's name. */
  name: string;
  provider: string;
  phase: string;
  revision?: number;
  restarts: number;
  /** How many times this instance's host was OOM-killed (from status.lastTermination / restarts, as far as the API shows). */
  oomKills: number;
  /** status.lastTermination.reason, e.g. OOMKilled or CrashLoopBackOff. */
  lastTermination?: { reason: string; at: string; message?: string };
  reason?: string;
}

export interface LogView {
  /** The archive repository (registry/name). */
  repository: string;
  /** The checkpoint origin and the latest size / root any Provider of this repository accepted. */
  origin?: string;
  size?: number;
  rootHash?: string;
  /** Providers reading this repository. */
  providers: string[];
  /** The last LogInconsistent condition seen on any of them (absent: none). */
  lastInconsistency?: { provider: string; at?: string; message?: string };
}

export interface GrantView {
  namespace: string;
  name: string;
  grantee: string;
  /** What it grants: `provider <name>` or `cap <capid>/<link>`. */
  target: string;
  operations: string[];
  expires?: string;
  /** Seconds left until expiry at `at` (negative: expired); absent when it never expires. */
  expiresInSeconds?: number;
  ready: boolean;
  reason?: string;
}

/**
 * The page's DOM contract, for the browser test and the bench (do not rename without them):
 * - `body[data-stream="live"]` once the event stream delivered its first state; `"lost"` while reconnecting;
 * - `body[data-state-at]` the `at` of the state rendered last;
 * - `[data-provider="<ns>/<name>"]` a Provider's row, with children `[data-field="ready"]` ("<ready>/<replicas>"),
 *   `[data-field="calls"]`, `[data-field="conditions"]`;
 * - `[data-node="<name>"]` a node of the placement map, holding `[data-instance="<ns>/<name>"]` cells with
 *   `data-phase`, `data-restarts`, `data-oom-kills` and `data-provider` attributes;
 * - `[data-log="<repository>"]`, `[data-grant="<ns>/<name>"]`, `[data-unavailable="<part>"]`.
 */
export type DomContract = never;
