/**
 * `gantry rollout status provider/NAME`: kubectl's Deployment status viewer, for a Provider.
 * Done when the controller has seen this generation and every desired instance is updated and
 * ready with no old one left; a `ProgressDeadlineExceeded` Progressing condition fails (exit 1).
 * Waits on a watch of the one Provider (no polling), re-watching when the server ends it.
 */
import { type Provider, providerDefaults } from '../api/index.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import { cliError } from './keys.js';

export interface RolloutTarget {
  client: KubeClient;
  name: string;
  namespace: string;
}

export const providerPath = (t: Pick<RolloutTarget, 'name' | 'namespace'>, name = t.name) =>
  `/apis/gantry.dev/v1alpha1/namespaces/${encodeURIComponent(t.namespace)}/providers${name ? `/${encodeURIComponent(name)}` : ''}`;

/** The Provider, or exit 1 with the API server's words for one that is not there. */
export async function getProvider(t: RolloutTarget): Promise<Provider> {
  try {
    return await t.client.get<Provider>(providerPath(t));
  } catch (err) {
    if (isNotFound(err)) throw cliError(`providers.gantry.dev "${t.name}" not found in namespace ${t.namespace}`, 1);
    throw cliError(`cannot read provider ${t.namespace}/${t.name}: ${(err as Error).message}`, 1);
  }
}

/** One look at a Provider: the line to print, and whether the rollout is done; throws (exit 1) past its progress deadline. */
export function statusOf(p: Provider): { line: string; done: boolean } {
  const s = p.status ?? {};
  const name = p.metadata.name;
  if ((p.metadata.generation ?? 0) > (s.observedGeneration ?? 0))
    return { line: 'Waiting for rollout spec update to be observed...', done: false };
  if (s.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded'))
    throw cliError(`provider "${name}" exceeded its progress deadline`, 1);
  const desired = s.desiredReplicas ?? providerDefaults(p.spec).replicas;
  const updated = s.updatedReplicas ?? 0;
  const wait = `Waiting for provider "${name}" rollout to finish: `;
  if (updated < desired) return { line: `${wait}${updated} out of ${desired} new replicas have been updated...`, done: false };
  if ((s.replicas ?? 0) > updated)
    return { line: `${wait}${(s.replicas ?? 0) - updated} old replicas are pending termination...`, done: false };
  if ((s.readyReplicas ?? 0) < desired)
    return { line: `${wait}${s.readyReplicas ?? 0} of ${desired} updated replicas are available...`, done: false };
  return { line: `provider "${name}" successfully rolled out`, done: true };
}

export async function rolloutStatus(t: RolloutTarget, o: { watch: boolean; timeoutMs: number }): Promise<void> {
  const abort = new AbortController();
  const timer = o.timeoutMs > 0 ? setTimeout(() => abort.abort(), o.timeoutMs) : undefined;
  let last = '';
  const show = (p: Provider) => {
    const s = statusOf(p);
    if (s.line !== last) process.stdout.write(`${s.line}\n`);
    last = s.line;
    return s.done;
  };
  try {
    let p = await getProvider(t);
    if (show(p) || !o.watch) return;
    while (!abort.signal.aborted) {
      let done = false;
      let failure: unknown;
      const stop = new AbortController();
      abort.signal.addEventListener('abort', () => stop.abort(), { once: true });
      await t.client
        .watch<Provider>(
          providerPath(t, ''),
          { fieldSelector: `metadata.name=${t.name}`, resourceVersion: p.metadata.resourceVersion },
          (e) => {
            if (e.type === 'DELETED') failure = cliError(`provider "${t.name}" was deleted`, 1);
            else if (e.type === 'ADDED' || e.type === 'MODIFIED') {
              p = e.object;
              try {
                done = show(p);
              } catch (err) {
                failure = err;
              }
            }
            if (done || failure) stop.abort();
          },
          stop.signal,
        )
        .catch((err) => {
          if (!stop.signal.aborted) failure = err;
        });
      if (failure) throw failure;
      if (done) return;
      // the server ended the watch (or its resourceVersion expired): look again, then watch again
      if (!abort.signal.aborted && show((p = await getProvider(t)))) return;
    }
    throw cliError('timed out waiting for the condition', 1);
  } finally {
    clearTimeout(timer);
    t.client.close();
  }
}
