/**
 * The scale subresource (`/scale`): an `autoscaling/v1` Scale read from, and written back to,
 * the replica paths a resource declares (`ResourceType.scale`, from a CRD's
 * `subresources.scale` or a built-in's table entry).
 */
import { errors } from './errors.js';
import { isObject, type KObject, type ResourceType } from './types.js';

/** Read a `.a.b` path. */
function readPath(o: unknown, path: string): unknown {
  let cur = o;
  for (const p of path.replace(/^\./, '').split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}
/** `o` with `v` at a `.a.b` path, copying only the objects along the path (`o` is left alone). */
function withPath(o: Record<string, unknown>, path: string, v: unknown): Record<string, unknown> {
  const [head, ...rest] = path.replace(/^\./, '').split('.');
  const child = o[head];
  return { ...o, [head]: rest.length === 0 ? v : withPath(isObject(child) ? child : {}, rest.join('.'), v) };
}

/** The Scale a client of `/scale` sees for `o`. */
export function scaleOf(rt: ResourceType, o: KObject): KObject {
  if (!rt.scale) throw errors.pathNotFound(`${rt.plural}/scale`);
  const spec = readPath(o, rt.scale.specReplicasPath);
  const status = readPath(o, rt.scale.statusReplicasPath);
  const selector = rt.scale.labelSelectorPath ? readPath(o, rt.scale.labelSelectorPath) : undefined;
  const st: Record<string, unknown> = { replicas: typeof status === 'number' ? status : 0 };
  if (typeof selector === 'string' && selector) st.selector = selector;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: o.metadata.uid,
      resourceVersion: o.metadata.resourceVersion,
      creationTimestamp: o.metadata.creationTimestamp,
    },
    spec: { replicas: typeof spec === 'number' ? spec : 0 },
    status: st,
  };
}

/**
 * The object `scale` asks for: `live` (as its client's version presents it) with the Scale's
 * `spec.replicas` at the resource's spec replicas path. A wrong resourceVersion is a conflict;
 * replicas that are not a non-negative integer are invalid.
 */
export function scaledObject(rt: ResourceType, live: KObject, scale: KObject): KObject {
  if (!rt.scale) throw errors.pathNotFound(`${rt.plural}/scale`);
  const name = live.metadata.name!;
  const rv = scale.metadata?.resourceVersion;
  if (rv && rv !== live.metadata.resourceVersion) throw errors.conflict(rt.plural, rt.group, name);
  const replicas = scale.spec?.replicas;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw errors.invalid('Scale', 'autoscaling', name, [
      {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
        field: 'spec.replicas',
      },
    ]);
  }
  return withPath(live, rt.scale.specReplicasPath, replicas) as KObject;
}
