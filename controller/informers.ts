/**
 * The informers more than one part of the controller reads, each defined once: a reconciler
 * (or startController's log of synced caches) asks the manager for one through these
 * functions, and every caller gets the same cache and the same watch.
 */
import {
  type CapabilityGrant,
  type ControllerRevision,
  labels,
  group,
  type Provider,
  type ProviderInstance,
  version,
} from '../api/index.js';
import type { Informer, KubeObject } from '../runtime/informer.js';

/** Where informers come from: the manager (manager.ts), which creates each once. */
export interface InformerSource {
  informer<T extends KubeObject>(name: string, path: string, extra?: { pageSize?: number; labelSelector?: string }): Informer<T>;
}

export type GrantObject = CapabilityGrant & { metadata: { name: string } };

export const providerInformer = (s: InformerSource) => s.informer<Provider>('providers', `/apis/${group}/${version}/providers`);

export const instanceInformer = (s: InformerSource) =>
  s.informer<ProviderInstance>('providerinstances', `/apis/${group}/${version}/providerinstances`, { pageSize: 2000 });

export const grantInformer = (s: InformerSource) =>
  s.informer<GrantObject>('capabilitygrants', `/apis/${group}/${version}/capabilitygrants`);

/** Only Providers' ControllerRevisions (labelled gantry.dev/provider): a DaemonSet's or StatefulSet's are not ours to cache. */
export const revisionInformer = (s: InformerSource) =>
  s.informer<ControllerRevision & { metadata: { name: string } }>('controllerrevisions', '/apis/apps/v1/controllerrevisions', {
    labelSelector: labels.provider,
  });
