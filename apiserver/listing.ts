/**
 * LIST of a resource: the label and field selectors, `limit`, and `continue` tokens that
 * resume after the last object returned (`namespace/name` order) until the store compacts
 * past the token's resourceVersion (then 410 Gone, as a real server answers).
 */
import { ApiError, errors } from './errors.js';
import { combine, parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { Store } from './store.js';
import { presentAs, resourceKey, type KObject, type RequestScope } from './types.js';

export interface ListPage {
  items: KObject[];
  rv: string;
  continueToken?: string;
  remaining?: number;
}

const objectPosition = (o: KObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Where a `continue` token says the previous page ended. */
function continueAfter(store: Store, token: string): string {
  try {
    const tok = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { start: string; rv: number };
    if (tok.rv < store.compactedRV())
      throw errors.gone(
        'The provided continue parameter is too old to display a consistent list result. ' +
          'You can start a new list without the continue parameter.',
      );
    return tok.start;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

export function listPage(store: Store, s: RequestScope): ListPage {
  const pred = combine(
    parseLabelSelector(s.query.get('labelSelector') ?? undefined),
    parseFieldSelector(s.rt, s.query.get('fieldSelector') ?? undefined),
  );
  const ns = s.rt.namespaced && s.namespace ? s.namespace : undefined;
  let all = store.list(resourceKey(s.rt), ns);
  const cont = s.query.get('continue');
  const rv = String(store.currentRV());
  if (cont) {
    const start = continueAfter(store, cont);
    all = all.filter((o) => objectPosition(o) > start);
  }
  const limit = Number(s.query.get('limit') ?? 0);
  const items: KObject[] = [];
  let i = 0;
  for (; i < all.length; i++) {
    if (limit > 0 && items.length >= limit) break;
    if (pred(all[i])) items.push(presentAs(s.rt, s.version, all[i]));
  }
  let continueToken: string | undefined;
  if (limit > 0 && items.length >= limit && all.slice(i).some(pred)) {
    const last = items[items.length - 1];
    continueToken = Buffer.from(JSON.stringify({ start: objectPosition(last), rv: Number(rv) })).toString('base64url');
  }
  return { items, rv, continueToken };
}
