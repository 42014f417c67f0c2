/**
 * What the scheduler and heal read about nodes: one NodeView per Node (the Node joined with
 * its agent Lease), updated one node at a time as either changes — never rebuilt whole per
 * reconcile. Agent liveness is a matter of time, and no watch event announces that a Lease
 * stopped being renewed, so a timer per live Lease fires when it would expire and the view is
 * re-read then. Live ↔ lost transitions are reported: `onAgentLive` (something may now be
 * placed anywhere; also when a live agent's instance cap, `gantry.dev/max-instances`, changed)
 * and `onAgentLost(node)` (the instances there must be replaced).
 *
 *   const views = new NodeViews({ node: (n) => nodes.get(n), lease: (n) => leases.get(agentLeaseName(n), ns),
 *     graceMs, onAgentLive, onAgentLost });
 *   nodes.addHandler({ add: (n) => views.nodeChanged(n.metadata.name), … });
 *   leases.addHandler({ add: (l) => views.leaseChanged(l), …, delete: (l) => views.leaseChanged(l, true) });
 */
import { nodeOfAgentLease } from '../../api/index.js';
import { agentExpiresAt, nodeView, type LeaseLike, type NodeLike, type NodeView } from './scheduling/nodes.js';

export interface NodeViewsOptions {
  /** The cached Node and the cached agent Lease of a node (informers' caches). */
  node(name: string): NodeLike | undefined;
  lease(node: string): LeaseLike | undefined;
  /** An agent Lease not renewed for this long marks its node's agent lost. */
  graceMs: number;
  /** An agent became live, or a live agent published another instance cap. */
  onAgentLive(node: string): void;
  onAgentLost(node: string): void;
}

export class NodeViews {
  private readonly views = new Map<string, NodeView>();
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private readonly live = new Map<string, boolean>();

  constructor(private readonly opts: NodeViewsOptions) {}

  /** Every node's view, by node name. */
  all(): ReadonlyMap<string, NodeView> {
    return this.views;
  }

  /** Re-reads one node (its Node object changed, appeared or went). */
  nodeChanged(node: string, now = Date.now()): void {
    const n = this.opts.node(node);
    if (n) this.views.set(node, nodeView(n, this.opts.lease(node), this.opts.graceMs, now));
    else this.views.delete(node);
  }

  /** An agent Lease changed or was deleted: re-read its node, report a transition, and time its expiry. */
  leaseChanged(l: LeaseLike, deleted = false, now = Date.now()): void {
    const node = nodeOfAgentLease(l.metadata.name);
    if (!node) return;
    clearTimeout(this.expiryTimers.get(node));
    this.expiryTimers.delete(node);
    const expiresAt = agentExpiresAt(l, this.opts.graceMs) ?? this.opts.graceMs;
    const live = !deleted && expiresAt > now;
    const capBefore = this.views.get(node)?.maxInstances;
    this.nodeChanged(node, now);
    const capChanged = !Object.is(capBefore, this.views.get(node)?.maxInstances);
    if (this.live.get(node) !== live) {
      this.live.set(node, live);
      if (live) this.opts.onAgentLive(node);
      else this.opts.onAgentLost(node);
    } else if (live && capChanged) this.opts.onAgentLive(node); // its cap changed: more (or less) may go there now
    if (live) {
      const t = setTimeout(
        () => {
          this.expiryTimers.delete(node);
          const cur = this.opts.lease(node);
          if (cur) this.leaseChanged(cur);
        },
        expiresAt - now + 20,
      );
      t.unref?.();
      this.expiryTimers.set(node, t);
    }
  }

  /** Stops the expiry timers. */
  stop(): void {
    for (const t of this.expiryTimers.values()) clearTimeout(t);
    this.expiryTimers.clear();
  }
}
