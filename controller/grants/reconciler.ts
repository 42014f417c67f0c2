/**
 * The CapabilityGrant reconciler's registration (reconcile.ts decides and writes), on its own
 * queue. Keys: each grant's (a spec change, deletion or finalizer change enqueues it), and the
 * membrane's account — a key without a namespace: merge the revocation list the NATS servers
 * hold, then push ours, at start and every resync, so a server that lost its resolver volume
 * gets the current list back within one resync.
 *
 * Who holds a key (key-claims.ts) changes with other objects, so those enqueue the grants
 * naming the key: a grant deleted or issued/un-issued (its key's other grants), an instance
 * whose status.hostKey appears, changes or goes (the grants naming the old or new key).
 *
 *   manager.register(grantsReconciler({ informers: manager, membrane, client, log }));
 */
import type { CapabilityGrant, ProviderInstance } from '../../api/index.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { jsonEqual } from '../../runtime/toolkit/conditions.js';
import { keyOf, type ObjectKey } from '../../runtime/toolkit/keys.js';
import { grantInformer, instanceInformer, type InformerSource } from '../informers.js';
import type { Reconciler } from '../manager.js';
import type { MembraneConfig } from '../membrane.js';
import { reconcileGrant } from './reconcile.js';
import { inSpan, reconcileAttrs } from '../../runtime/toolkit/spans.js';
import { Spans } from '../../runtime/tracing/index.js';

const ACCOUNT: ObjectKey = { name: 'account' };

export function grantsReconciler(o: {
  informers: InformerSource;
  membrane: MembraneConfig;
  client: KubeClient;
  log: Logger;
  /** The longest a grant JWT lives (exp − iat); default 24 h (jwt-lifetime.ts). */
  jwtLifetimeMs?: number;
}): Reconciler {
  const grants = grantInformer(o.informers);
  const instances = instanceInformer(o.informers);
  return {
    name: 'capabilitygrants',
    concurrency: 2,
    watch(q) {
      /** Enqueue the grants naming `nkey` other than `except` (whose claim on it may have changed). */
      const naming = (nkey: string | undefined, except?: CapabilityGrant) => {
        if (!nkey) return;
        for (const g of grants.list()) if (g.spec?.grantee?.nkey === nkey && (!except || keyOf(g) !== keyOf(except))) q.add(g);
      };
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
          if (!!g.status?.userJwt !== !!old.status?.userJwt) naming(g.spec?.grantee?.nkey, g);
        },
        delete: (g) => naming(g.spec?.grantee?.nkey, g),
      });
      const hostKeyChanged = (now: ProviderInstance | undefined, before: ProviderInstance | undefined) => {
        const [a, b] = [now?.status?.hostKey, before?.status?.hostKey];
        if (a === b) return;
        naming(a);
        naming(b);
      };
      instances.addHandler({
        add: (i) => hostKeyChanged(i, undefined),
        update: (i, old) => hostKeyChanged(i, old),
        delete: (i) => hostKeyChanged(undefined, i),
      });
    },
    resync(q) {
      for (const g of grants.list()) q.add(g);
      q.add(ACCOUNT);
    },
    async reconcile(key, q) {
      if (key.namespace !== undefined)
        return inSpan(Spans.reconcile, reconcileAttrs('CapabilityGrant', key), () =>
          reconcileGrant({ ...o, grants, instances, requeue: (g) => q.add(g) }, key),
        );
      await o.membrane.authority.syncRevocations(o.membrane.servers).catch(() => {});
      await o.membrane.authority.pushAccount(o.membrane.servers);
    },
    failed: (key, err, attempt) => o.log.warn({ key, attempt, err: (err as Error).message }, 'membrane reconcile failed; will retry'),
  };
}
