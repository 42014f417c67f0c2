/**
 * Typed object keys. A work queue holds strings (they de-duplicate by value), but reconcilers
 * take an `ObjectKey`: `keyOf` and `parseKey` are the one place a `namespace/name` string is
 * built and split, so a name can never be cut at the wrong slash and a cluster-scoped object
 * (no namespace) has a key of its own shape (`name`).
 *
 *   queue.add(keyOf(provider));              // 'default/echo'
 *   const { namespace, name } = parseKey(k); // { namespace: 'default', name: 'echo' }
 */
export interface ObjectKey {
  /** Absent for cluster-scoped objects (Nodes). */
  namespace?: string;
  name: string;
}

/** The object's key: `namespace/name`, or `name` when it has no namespace. */
export function keyOf(o: { metadata: { namespace?: string; name?: string } } | ObjectKey): string {
  const { namespace, name } = 'metadata' in o ? o.metadata : o;
  if (!name) throw new Error('keyOf: an object without metadata.name has no key');
  return namespace ? `${namespace}/${name}` : name;
}

/** The inverse of keyOf. Kubernetes names and namespaces contain no `/`, so one split is exact. */
export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf('/');
  if (slash < 0) return { name: key };
  if (slash === 0 || slash === key.length - 1 || key.indexOf('/', slash + 1) >= 0)
    throw new Error(`parseKey: "${key}" is not namespace/name`);
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The key of a namespaced object: parseKey, refusing a cluster-scoped key. */
export function parseNamespacedKey(key: string): Required<ObjectKey> {
  const k = parseKey(key);
  if (k.namespace === undefined) throw new Error(`parseKey: "${key}" has no namespace`);
  return { namespace: k.namespace, name: k.name };
}
