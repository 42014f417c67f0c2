/**
 * The controller's view of ProviderInstances: the ones each Provider controls, how many Gantry
 * instances each node runs, and this controller's expectations (after controller-runtime's
 * ControllerExpectations). An instance it just created counts at once, before the watch
 * delivers it, so a reconcile that outruns the watch never places a replica twice; one it just
 * deleted stops counting at once. An expectation whose event never arrives is dropped after
 * `ttlMs`, so nothing waits for it forever.
 *
 * The informer handlers call `observe*`, which answer the Provider key to enqueue, if the
 * event changes what a reconcile decides. Only instances with a controller ownerReference to
 * a Provider are ours; others are left alone.
 */
import { labels, type ProviderInstance } from '../../api/index.js';
import { keyOf } from '../../runtime/toolkit/keys.js';

const controllerRef = (i: ProviderInstance) => i.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'Provider');

/** `ns/name` of the Provider controlling an instance. */
export function providerKeyOf(i: ProviderInstance): string {
  return keyOf({ namespace: i.metadata.namespace, name: controllerRef(i)?.name ?? i.metadata.labels?.[labels.provider] ?? '' });
}

export class InstanceIndex {
  private readonly byProvider = new Map<string, Map<string, ProviderInstance>>();
  private readonly perNode = new Map<string, number>();
  private readonly created = new Map<string, { inst: ProviderInstance; at: number }>();
  private readonly removed = new Map<string, number>();

  constructor(private readonly ttlMs = 60_000) {}

  /** A new instance from the watch; the Provider key to enqueue, unless it was expected (or is not ours). */
  observeAdd(i: ProviderInstance): string | undefined {
    if (!controllerRef(i)) return undefined;
    const pk = providerKeyOf(i);
    let m = this.byProvider.get(pk);
    if (!m) this.byProvider.set(pk, (m = new Map()));
    m.set(keyOf(i), i);
    // one this controller just created and already counts: seeing it changes no decision,
    // so a burst of placements does not come back as a burst of reconciles
    if (this.created.delete(keyOf(i))) return undefined;
    this.bump(i.spec.nodeName, 1);
    return pk;
  }

  /** A changed instance; the Provider key to enqueue when what a reconcile reads changed (phase, deletion, finalizers). */
  observeUpdate(i: ProviderInstance, old: ProviderInstance): string | undefined {
    if (!controllerRef(i)) return undefined;
    const pk = providerKeyOf(i);
    this.byProvider.get(pk)?.set(keyOf(i), i);
    const changed =
      i.status?.phase !== old.status?.phase ||
      // refused by its agent (InstanceLimit) while Pending: heal may move it
      (i.status?.reason === 'InstanceLimit') !== (old.status?.reason === 'InstanceLimit') ||
      i.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
      (i.metadata.finalizers?.length ?? 0) !== (old.metadata.finalizers?.length ?? 0);
    return changed ? pk : undefined;
  }

  observeDelete(i: ProviderInstance): string | undefined {
    if (!controllerRef(i)) return undefined;
    const pk = providerKeyOf(i);
    const m = this.byProvider.get(pk);
    if (m?.delete(keyOf(i))) this.bump(i.spec.nodeName, -1);
    if (m && m.size === 0) this.byProvider.delete(pk);
    this.removed.delete(keyOf(i));
    return pk;
  }

  /** This controller created it: count it until the watch shows it (unless the watch already did). */
  expectCreated(i: ProviderInstance, now = Date.now()): void {
    if (this.byProvider.get(providerKeyOf(i))?.has(keyOf(i))) return;
    this.created.set(keyOf(i), { inst: i, at: now });
    this.bump(i.spec.nodeName, 1);
  }

  /** This controller deleted it (`ns/name`): stop counting it until the watch confirms. */
  expectRemoved(key: string, now = Date.now()): void {
    this.removed.set(key, now);
  }

  /** The instances a Provider controls, expectations applied. */
  instancesOf(providerKey: string, now = Date.now()): ProviderInstance[] {
    const out: ProviderInstance[] = [];
    const known = this.byProvider.get(providerKey);
    for (const [k, i] of known ?? []) {
      const at = this.removed.get(k);
      if (at !== undefined) {
        if (now - at < this.ttlMs) continue;
        this.removed.delete(k); // its DELETED event never came: stop waiting for it
      }
      out.push(i);
    }
    for (const [k, c] of this.created) {
      if (now - c.at > this.ttlMs) {
        this.created.delete(k);
        this.bump(c.inst.spec.nodeName, -1);
        continue;
      }
      if (providerKeyOf(c.inst) === providerKey && !this.removed.has(k) && !known?.has(k)) out.push(c.inst);
    }
    return out;
  }

  /** Gantry instances per node, over all Providers (expected creations included). */
  load(): ReadonlyMap<string, number> {
    return this.perNode;
  }

  /** Keys of every Provider that controls an instance. */
  providerKeys(): IterableIterator<string> {
    return this.byProvider.keys();
  }

  /** Keys of the Providers with an instance on `node`. */
  *providersOn(node: string): Generator<string> {
    for (const [pk, m] of this.byProvider) {
      for (const i of m.values()) {
        if (i.spec.nodeName === node) {
          yield pk;
          break;
        }
      }
    }
  }

  private bump(node: string, by: number): void {
    const n = (this.perNode.get(node) ?? 0) + by;
    if (n <= 0) this.perNode.delete(node);
    else this.perNode.set(node, n);
  }
}
