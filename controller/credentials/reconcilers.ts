/**
 * The credential reconcilers, each on its own queue:
 *   - host identities (host.ts, with the membrane): an instance's key → a host JWT for the
 *     host key its node wrote (on every change, and again when a third of its lifetime is
 *     left); the sweep key → revoke the keys of instances no longer live and remove the
 *     previous design's host credential Secrets (on an instance's deletion or delete event,
 *     and every resync);
 *   - pull credentials (pull.ts): the sweep key → delete those of instances no longer live (on
 *     the delete event of an instance that named pull secrets, and every resync). They are
 *     written by the Provider reconcile, which reads the Provider's pull secrets
 *     (providers/pull-credentials.ts). The same sweep deletes the sealed secret config Secrets
 *     (config.ts) of instances no longer live, on the delete event of an instance that had one.
 * The sweep key has no namespace: it names the set of Secrets, not one object.
 */
import type { ProviderInstance } from '../../api/index.js';
import type { Informer } from '../../runtime/informer.js';
import type { Logger } from '../../runtime/log.js';
import type { ObjectKey } from '../../runtime/toolkit/keys.js';
import { type InformerSource, instanceInformer } from '../informers.js';
import type { Reconciler } from '../manager.js';
import type { ControllerMetrics } from '../metrics.js';
import type { InstanceCredentials } from './host.js';
import type { InstanceSecretConfig } from './config.js';
import type { InstancePullCredentials } from './pull.js';

const SWEEP: ObjectKey = { name: 'sweep' };

/** Whether the instance a credential was written for is still there, the same one, and not being deleted. */
function liveIn(instances: Informer<ProviderInstance>) {
  return (ns: string, name: string, uid: string) => {
    const i = instances.get(name, ns);
    return !!i && i.metadata.uid === uid && !i.metadata.deletionTimestamp;
  };
}

export function hostCredentialsReconciler(o: { informers: InformerSource; creds: InstanceCredentials; log: Logger }): Reconciler {
  const instances = instanceInformer(o.informers);
  return {
    name: 'host-credentials',
    concurrency: 2,
    watch(q) {
      instances.addHandler({
        add: (i) => q.add(i),
        update: (i, old) => {
          if (i.metadata.deletionTimestamp) q.add(SWEEP);
          else if (i.status?.hostKey !== old?.status?.hostKey || i.status?.hostJwt !== old?.status?.hostJwt) q.add(i);
        },
        delete: () => q.add(SWEEP),
      });
    },
    resync(q) {
      for (const i of instances.list()) q.add(i);
      q.add(SWEEP);
    },
    async reconcile(key) {
      if (key.namespace === undefined) return o.creds.sweep(liveIn(instances));
      const i = instances.get(key.name, key.namespace);
      const again = i ? await o.creds.ensure(i) : undefined;
      return again !== undefined ? { requeueAfterMs: Math.max(0, again) } : undefined;
    },
    failed: (key, err, attempt) => o.log.warn({ key, attempt, err: (err as Error).message }, 'membrane reconcile failed; will retry'),
  };
}

export function pullCredentialsReconciler(o: {
  informers: InformerSource;
  pullCreds: InstancePullCredentials;
  /** Its config Secrets are swept with the pull credentials. */
  secretConfig?: InstanceSecretConfig;
  metrics: ControllerMetrics;
  log: Logger;
}): Reconciler {
  const instances = instanceInformer(o.informers);
  return {
    name: 'pull-credentials',
    concurrency: 1,
    watch(q) {
      instances.addHandler({
        delete: (i) => {
          if (i.spec?.archive?.pullSecrets?.length || i.spec?.secretConfig) q.add(SWEEP);
        },
      });
    },
    resync: (q) => q.add(SWEEP),
    async reconcile() {
      await o.pullCreds.sweep(liveIn(instances));
      await o.secretConfig?.sweep(liveIn(instances));
    },
    failed(key, err, attempt) {
      o.metrics.failures.inc({ reason: 'ReconcileError' });
      o.log.warn({ key, attempt, err: (err as Error).message }, 'reconcile failed; will retry');
    },
  };
}
