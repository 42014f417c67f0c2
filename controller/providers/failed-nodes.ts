/**
 * Nodes each Provider keeps away from after an instance failed there, so a replacement does
 * not land on the node that just failed it: 10 s after the first failure, doubling with each
 * further one, capped at 5 min (the scheduler's RecentFailure filter reads `avoided`).
 */
export class FailedNodes {
  private readonly byProvider = new Map<string, Map<string, { until: number; count: number }>>();

  constructor(private readonly opts: { firstMs?: number; maxMs?: number } = {}) {}

  record(providerKey: string, node: string, now = Date.now()): void {
    let m = this.byProvider.get(providerKey);
    if (!m) this.byProvider.set(providerKey, (m = new Map()));
    const count = (m.get(node)?.count ?? 0) + 1;
    m.set(node, { until: now + Math.min(this.opts.maxMs ?? 300_000, (this.opts.firstMs ?? 10_000) * 2 ** (count - 1)), count });
  }

  /** The nodes a Provider avoids now. */
  avoided(providerKey: string, now = Date.now()): Set<string> {
    const out = new Set<string>();
    for (const [node, f] of this.byProvider.get(providerKey) ?? []) if (f.until > now) out.add(node);
    return out;
  }

  forget(providerKey: string): void {
    this.byProvider.delete(providerKey);
  }
}
