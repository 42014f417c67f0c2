/**
 * Scorers rank the nodes that passed every filter; higher is better. Fewest Gantry instances
 * spreads load; keeping placement prefers nodes this Provider used before (a rollout puts the
 * new revision where the old one ran, so nothing else moves).
 */
import type { NodeView } from './nodes.js';

import { tolerates } from './filters.js';
import type { Toleration } from '../../../api/provider.js';

export interface ScoreContext {
  /** Gantry instances (all Providers) per node. */
  load: ReadonlyMap<string, number>;
  /** Nodes where this Provider has or recently had an instance. */
  previous: ReadonlySet<string>;
  tolerations?: Toleration[];
}

export interface Scorer {
  name: string;
  weight: number;
  score(node: NodeView, ctx: ScoreContext): number;
}

export const fewestInstances: Scorer = {
  name: 'FewestInstances',
  weight: 10,
  score: (n, ctx) => -(ctx.load.get(n.name) ?? 0),
};

export const keepPlacement: Scorer = {
  name: 'KeepPlacement',
  weight: 1,
  score: (n, ctx) => (ctx.previous.has(n.name) ? 1 : 0),
};

/** A PreferNoSchedule taint the Provider does not tolerate: use the node only if nothing better is left. */
export const preferNoSchedule: Scorer = {
  name: 'PreferNoSchedule',
  weight: 1000,
  score: (n, ctx) => (n.taints.some((t) => t.effect === 'PreferNoSchedule' && !tolerates(ctx.tolerations, t)) ? -1 : 0),
};

export const defaultScorers: Scorer[] = [preferNoSchedule, fewestInstances, keepPlacement];
