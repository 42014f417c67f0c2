/**
 * The CapabilityGrant reconciler's registration (reconcile.ts decides and writes), on its own
 * queue. Keys: each grant's (a spec change, deletion or finalizer change enqueues it), and the
 * membrane's account — a key without a namespace: merge the revocation list the NATS servers
 * hold, then push ours, at start and every resync, so a server that lost its resolver volume
 * gets the current list back within one resync.
 *
 *   manager.register(grantsReconciler({ informers: manager, membrane, client, log }));
 */
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import type { ObjectKey } from '../../runtime/toolkit/keys.js';
import { grantInformer, type InformerSource } from '../informers.js';
import type { Reconciler } from '../manager.js';
import { jsonEqual } from '../../runtime/toolkit/conditions.js';
import type { MembraneConfig } from '../membrane.js';
import { reconcileGrant } from './reconcile.js';

const ACCOUNT: ObjectKey = { name: 'account' };

export function grantsReconciler(o: { informers: InformerSource; membrane: MembraneConfig; client: KubeClient; log: Logger }): Reconciler {
  const grants = grantInformer(o.informers);
  return {
    name: 'capabilitygrants',
    concurrency: 2,
    watch(q) {
      grants.addHandler({
        add: (g) => q.add(g),
        update: (g, old) => {
          const m = g.metadata;
          if (
            m.generation !== old.metadata.generation ||
            m.deletionTimestamp !== old.metadata.deletionTimestamp ||
            !jsonEqual(m.finalizers ?? [], old.metadata.finalizers ?? [])
          )
            q.add(g);
        },
      });
    },
    resync(q) {
      for (const g of grants.list()) q.add(g);
      q.add(ACCOUNT);
    },
    async reconcile(key, q) {
      if (key.namespace !== undefined) return reconcileGrant({ ...o, grants, requeue: (g) => q.add(g) }, key);
      await o.membrane.authority.syncRevocations(o.membrane.servers).catch(() => {});
      await o.membrane.authority.pushAccount(o.membrane.servers);
    },
    failed: (key, err, attempt) => o.log.warn({ key, attempt, err: (err as Error).message }, 'membrane reconcile failed; will retry'),
  };
}
