/**
 * Keeps each Provider's rollout history (api/history.ts) as ControllerRevisions: read from a
 * label-selected informer, written only when planHistory (plan.ts) asks for something, so a
 * steady Provider costs no writes. What this reconciler wrote and the cache has not shown yet
 * overlays the cache (for a minute at most), so a reconcile right after a write neither makes
 * the same revision twice nor numbers two revisions alike.
 */
import {
  changeCauseAnnotation,
  type ControllerRevision,
  controllerRevisionsPath,
  revisionName,
  revisionsOf,
  templateHash,
  templateOf,
} from '../../api/history.js';
import { apiVersion, labels } from '../../api/common.js';
import type { Provider, ProviderSpec, ResolvedArchive } from '../../api/provider.js';
import { isAlreadyExists, isNotFound, type KubeClient } from '../../runtime/kube.js';
import { planHistory } from './plan.js';

/** The resolved digest a revision ran, for `gantry rollout history --revision` (not part of the template). */
export const digestAnnotation = 'gantry.dev/digest';

export interface RevisionCache {
  list(namespace?: string): ControllerRevision[];
}

/** What step() reads and writes of the reconcile's StatusDraft. */
export interface HistoryDraft {
  readonly generation: number;
  readonly conditions: readonly { type: string; status: string; observedGeneration?: number }[];
  readonly status: { currentRevision?: number };
  retryWith(err: unknown): void;
}

export class ProviderHistory {
  /** ns/name → what we wrote (null: deleted) and when, until the cache agrees. */
  private readonly written = new Map<string, { rev: ControllerRevision | null; at: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly cache: RevisionCache,
    private readonly overlayTtlMs = 60_000,
  ) {}

  /** Makes sure the current template has the newest revision and the history is within `limit`; returns the current revision's number. */
  async record(p: Provider, spec: ProviderSpec, resolved: ResolvedArchive, limit: number): Promise<number> {
    const template = templateOf(spec, resolved);
    const hash = templateHash(template);
    const name = revisionName(p.metadata.name, hash);
    const ns = p.metadata.namespace!;
    const plan = planHistory(this.view(p), name, limit);
    if (plan.create !== undefined) {
      const annotations: Record<string, string> = { [digestAnnotation]: resolved.digest };
      const cause = p.metadata.annotations?.[changeCauseAnnotation];
      if (cause) annotations[changeCauseAnnotation] = cause;
      const rev: ControllerRevision = {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: {
          name,
          namespace: ns,
          labels: { [labels.provider]: p.metadata.name, 'controller-revision-hash': hash },
          annotations,
          ownerReferences: [
            { apiVersion, kind: 'Provider', name: p.metadata.name, uid: p.metadata.uid!, controller: true, blockOwnerDeletion: true },
          ],
        },
        data: template,
        revision: plan.create,
      };
      try {
        this.remember(ns, name, await this.client.create(controllerRevisionsPath(ns), rev));
      } catch (err) {
        // made already and not yet in the cache (or a deleted predecessor's, not yet collected): look again
        if (isAlreadyExists(err)) throw new Error(`ControllerRevision ${ns}/${name} exists but is not in the cache yet`);
        throw err;
      }
    }
    if (plan.bump !== undefined) {
      const path = `${controllerRevisionsPath(ns)}/${encodeURIComponent(name)}`;
      this.remember(ns, name, await this.client.mergePatch(path, { revision: plan.bump }));
    }
    for (const old of plan.remove) {
      try {
        await this.client.delete(`${controllerRevisionsPath(ns)}/${encodeURIComponent(old)}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.remember(ns, old, null);
    }
    return plan.current;
  }

  /**
   * The reconciler's step: once the archive resolved for this generation (a failed resolve keeps
   * an older archive serving: that is no new template) and the Provider is not paused, record the template and put its number
   * in `status.currentRevision`; a failed write retries the reconcile with backoff.
   */
  async step(draft: HistoryDraft, p: Provider, spec: ProviderSpec, resolved: ResolvedArchive | undefined, limit: number): Promise<void> {
    const r = draft.conditions.find((c) => c.type === 'Resolved');
    if (!resolved || r?.status !== 'True' || r.observedGeneration !== draft.generation) return;
    // paused: a changed template is not rolled out, so it is no revision yet (resume records it)
    if (spec.paused) return;
    try {
      draft.status.currentRevision = await this.record(p, spec, resolved, limit);
    } catch (err) {
      draft.retryWith(err);
    }
  }

  /** This Provider's revisions: the cache, with what we wrote on top until the cache shows it. */
  private view(p: Provider): ControllerRevision[] {
    const ns = p.metadata.namespace!;
    const byName = new Map(this.cache.list(ns).map((r) => [r.metadata.name, r]));
    const now = Date.now();
    for (const [key, w] of this.written) {
      const [wns, name] = key.split('/');
      if (wns !== ns) continue;
      const cached = byName.get(name);
      const caughtUp = w.rev ? cached?.revision === w.rev.revision : !cached;
      if (caughtUp || now - w.at > this.overlayTtlMs) this.written.delete(key);
      else if (w.rev) byName.set(name, w.rev);
      else byName.delete(name);
    }
    return revisionsOf(p, byName.values());
  }

  private remember(ns: string, name: string, rev: ControllerRevision | null): void {
    this.written.set(`${ns}/${name}`, { rev, at: Date.now() });
  }
}
