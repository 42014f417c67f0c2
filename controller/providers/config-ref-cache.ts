/**
 * The ConfigMaps and Secrets Provider configs refer to (spec.configFrom), read with GET only
 * (get-cache.ts: the controller lists no Secret) and decoded by config-refs.ts. A changed
 * object (a new resourceVersion) or a changed failure enqueues the Providers that refer to it;
 * how soon a rotated Secret is noticed rests on `ttlMs` (the controller's --config-ref-ttl,
 * default 10 s): each referenced object is read again that often, since nothing watches it.
 */
import { isNotFound, KubeApiError, resourcePath, type KubeClient } from '../../runtime/kube.js';
import { ConfigRefError, decodeConfigObject, type ConfigKind, type ConfigLookup, type ConfigObject } from './config-refs.js';
import { GetCache } from './get-cache.js';

export const defaultConfigRefTtlMs = 10_000;

export class ConfigRefCache {
  private readonly caches: Record<ConfigKind, GetCache<ConfigObject, ConfigRefError>>;

  constructor(client: Pick<KubeClient, 'get'>, onChange: (providerKey: string) => void, ttlMs = defaultConfigRefTtlMs) {
    const cacheOf = (kind: ConfigKind) =>
      new GetCache<ConfigObject, ConfigRefError>(
        {
          read: async (namespace, name) => {
            const plural = kind === 'Secret' ? 'secrets' : 'configmaps';
            return decodeConfigObject(kind, namespace, name, await client.get(resourcePath({ version: 'v1', plural, namespace, name })));
          },
          failure: (err, key) => readFailure(kind, key, err),
          isFailure: (v): v is ConfigRefError => v instanceof ConfigRefError,
          // the resourceVersion tells a change: no value is kept twice
          sig: (v) => (v instanceof ConfigRefError ? `!${v.reason}:${v.message}` : v.resourceVersion),
        },
        onChange,
        { ttlMs },
      );
    this.caches = { ConfigMap: cacheOf('ConfigMap'), Secret: cacheOf('Secret') };
  }

  /** The lookup resolveConfig reads, for one Provider. */
  lookupFor(providerKey: string, namespace: string): ConfigLookup {
    return (kind, name) => this.caches[kind].lookupEach(providerKey, namespace, [name])[0];
  }

  forget(providerKey: string): void {
    for (const c of Object.values(this.caches)) c.forget(providerKey);
  }

  stop(): void {
    for (const c of Object.values(this.caches)) c.stop();
  }
}

function readFailure(kind: ConfigKind, key: string, err: unknown): ConfigRefError {
  if (err instanceof ConfigRefError) return err;
  if (isNotFound(err))
    return new ConfigRefError(kind === 'Secret' ? 'SecretNotFound' : 'ConfigMapNotFound', `${kind} ${key} does not exist`);
  if (err instanceof KubeApiError && err.code === 403)
    return new ConfigRefError('ConfigRefForbidden', `the controller may not read ${kind} ${key} (forbidden): ${err.message}`);
  // looked at again after the cache's error TTL (2 s), as any failed read
  return new ConfigRefError('ConfigRefUnreadable', `reading ${kind} ${key}: ${(err as Error).message}`);
}
