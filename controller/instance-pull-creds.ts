/**
 * Per-instance pull credentials: the node agent reads no Secret outside the Gantry namespace.
 * The controller, which already reads a Provider's pull secrets (pull-secret-cache.ts), writes
 * for each instance whose spec names pull secrets a `kubernetes.io/dockerconfigjson` Secret
 * gantry-pull-<hash of ns/name> in its own namespace, holding only the entry for the
 * instance's registry host (registry/pull-secrets.ts narrowDockerConfig), labelled with the
 * instance's namespace, name and uid. When the Provider's secrets cannot be read the Secret
 * carries the refusal instead (annotation gantry.dev/pull-secret-error = CODE: message), so the
 * agent reports the same reason it would have found itself.
 *
 * Rotation: the pull-secret cache enqueues the Provider when one of its secrets changes; its
 * reconcile calls `ensure` for each instance, which rewrites the Secret when its content
 * changed. The agent reads the Secret on every pull, so a running instance's next pull uses
 * the new credential without a restart. Deleting the instance deletes the Secret (`sweep`, on
 * every instance delete and resync: an owner reference cannot cross namespaces).
 */
import { instanceCredsLabels, instancePullCredsSecretName, type ProviderInstance } from '../api/index.js';
import { DOCKER_CONFIG_JSON, narrowDockerConfig, PullSecretError, type PullSecret } from '../registry/pull-secrets.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';

export const PULL_SECRET_ERROR_ANNOTATION = 'gantry.dev/pull-secret-error';

interface SecretObj {
  apiVersion?: string;
  kind?: string;
  type?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/** The Secret for `inst` holding `source` (the narrowed docker config, or the refusal). */
export function instancePullSecret(gantryNamespace: string, inst: ProviderInstance, source: { secrets: readonly PullSecret[] } | { error: PullSecretError }): SecretObj {
  const ns = inst.metadata.namespace ?? 'default';
  const labels = { [instanceCredsLabels.pullMarker]: 'true', [instanceCredsLabels.namespace]: ns, [instanceCredsLabels.name]: inst.metadata.name, [instanceCredsLabels.uid]: inst.metadata.uid ?? '' };
  const base = { apiVersion: 'v1', kind: 'Secret', type: DOCKER_CONFIG_JSON, metadata: { name: instancePullCredsSecretName(ns, inst.metadata.name), namespace: gantryNamespace, labels } };
  if ('error' in source) {
    return { ...base, metadata: { ...base.metadata, annotations: { [PULL_SECRET_ERROR_ANNOTATION]: `${source.error.code}: ${source.error.message}` } }, data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') } };
  }
  return { ...base, data: { '.dockerconfigjson': Buffer.from(narrowDockerConfig(inst.spec.archive.ref, source.secrets)).toString('base64') } };
}

const sig = (s: SecretObj) => JSON.stringify([s.metadata.labels?.[instanceCredsLabels.uid], s.metadata.annotations?.[PULL_SECRET_ERROR_ANNOTATION] ?? '', s.data?.['.dockerconfigjson'] ?? '']);

export class InstancePullCredentials {
  /** uid → signature of what we know the Secret holds */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {}

  private path(name?: string): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets${name ? `/${name}` : ''}`;
  }

  /** Make the instance's Secret hold `source`; no API call when it already does. */
  async ensure(inst: ProviderInstance, source: { secrets: readonly PullSecret[] } | { error: PullSecretError }): Promise<void> {
    const uid = inst.metadata.uid;
    if (!uid || inst.metadata.deletionTimestamp) return;
    const want = instancePullSecret(this.namespace, inst, source);
    const s = sig(want);
    if (this.written.get(uid) === s) return;
    let have: SecretObj | undefined;
    try {
      have = await this.client.get<SecretObj>(this.path(want.metadata.name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (have && have.metadata.labels?.[instanceCredsLabels.uid] !== uid) {
      await this.deleteQuietly(have.metadata.name); // left by an earlier instance of the same name
      have = undefined;
    }
    if (!have) await this.client.create(this.path(), want);
    else if (sig(have) !== s || have.type !== want.type) await this.client.replace(this.path(want.metadata.name), { ...want, metadata: { ...want.metadata, resourceVersion: have.metadata.resourceVersion } });
    this.written.set(uid, s);
    this.log.info({ instance: `${inst.metadata.namespace}/${inst.metadata.name}`, secret: want.metadata.name, refused: 'error' in source ? source.error.code : undefined }, have ? 'instance pull credential refreshed' : 'instance pull credential written');
  }

  /** Delete every pull credential whose instance is no longer live. */
  async sweep(live: (ns: string, name: string, uid: string) => boolean): Promise<void> {
    const list = await this.client.list(this.path(), { labelSelector: `${instanceCredsLabels.pullMarker}=true` });
    for (const s of list.items as SecretObj[]) {
      const l = s.metadata.labels ?? {};
      if (live(l[instanceCredsLabels.namespace] ?? '', l[instanceCredsLabels.name] ?? '', l[instanceCredsLabels.uid] ?? '')) continue;
      await this.deleteQuietly(s.metadata.name);
      this.written.delete(l[instanceCredsLabels.uid] ?? '');
      this.log.info({ secret: s.metadata.name }, 'instance pull credential deleted');
    }
  }

  private async deleteQuietly(name: string): Promise<void> {
    try {
      await this.client.delete(this.path(name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
