/**
 * The reconciler's writes to ProviderInstances: create (placements) and delete (removals),
 * bounded over all reconciles by one Limiter, each remembered as an expectation in the
 * InstanceIndex until the watch reflects it.
 */
import { group, version } from '../../api/common.js';
import type { ProviderInstance } from '../../api/instance.js';
import { lostReasons } from './scheduling/filters.js';
import { isAlreadyExists, isNotFound, type KubeClient } from '../../runtime/kube.js';
import type { InstanceIndex } from './instance-index.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import type { Limiter } from '../../runtime/toolkit/limiter.js';
import type { ControllerMetrics } from '../metrics.js';

export const instancesPath = (ns: string) => `/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}/providerinstances`;

export class InstanceWriter {
  constructor(
    private readonly client: KubeClient,
    private readonly writes: Limiter,
    private readonly index: InstanceIndex,
    private readonly metrics: ControllerMetrics,
    /** Whether a node's agent is live (a removal there leaves finalizers to it). */
    private readonly agentLive: (node: string) => boolean,
  ) {}

  /** Creates the instances; how many were created, and the first error (an existing name is not one). */
  async create(ns: string, items: ProviderInstance[]): Promise<{ created: number; err?: unknown }> {
    let created = 0;
    let err: unknown;
    await this.writes.each(items, async (inst) => {
      try {
        this.index.expectCreated(await this.client.create<ProviderInstance>(instancesPath(ns), inst));
        this.metrics.placements.inc();
        created++;
      } catch (e) {
        if (!isAlreadyExists(e)) err = e;
      }
    });
    return { created, err };
  }

  /**
   * Deletes instances; for ones on a lost node (or, with `force`, the Provider gone and no live
   * agent there) also drops the finalizers no agent will ever remove.
   */
  async remove(items: { inst: ProviderInstance; reason: string }[], force: boolean): Promise<void> {
    let firstErr: unknown;
    await this.writes.each(items, async ({ inst, reason }) => {
      const ns = inst.metadata.namespace!;
      const path = `${instancesPath(ns)}/${encodeURIComponent(inst.metadata.name)}`;
      try {
        await this.client.delete(path, { propagationPolicy: 'Background' });
        this.index.expectRemoved(keyOf(inst));
        this.metrics.removals.inc({ reason });
        if ((lostReasons.has(reason) || (force && !this.agentLive(inst.spec.nodeName))) && inst.metadata.finalizers?.length) {
          await this.client.mergePatch(path, { metadata: { finalizers: null } });
        }
      } catch (err) {
        if (!isNotFound(err)) firstErr = firstErr ?? err;
      }
    });
    if (firstErr) throw firstErr;
  }
}
