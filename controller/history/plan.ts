/**
 * What a Provider's history needs, decided without I/O (history.ts does the writes): the
 * current template's revision made (max+1) or, when an older revision holds the same
 * template (an undo, or an edit back), that one's number bumped to max+1 — as the Deployment
 * controller does — and the oldest beyond `spec.revisionHistoryLimit` deleted, never the current
 * one. A steady Provider plans nothing.
 */
import type { ControllerRevision } from '../../api/history.js';

export interface HistoryPlan {
  /** Make the current template's revision with this number. */
  create?: number;
  /** Renumber the current template's (existing, older) revision to this. */
  bump?: number;
  /** Names of old revisions beyond the limit. */
  remove: string[];
  /** The current template's revision number once the plan is carried out. */
  current: number;
}

export function planHistory(existing: readonly ControllerRevision[], currentName: string, limit: number): HistoryPlan {
  const max = existing.reduce((m, r) => Math.max(m, r.revision), 0);
  const mine = existing.find((r) => r.metadata.name === currentName);
  const plan: HistoryPlan = { remove: [], current: mine?.revision ?? max + 1 };
  if (!mine) plan.create = max + 1;
  // another revision numbered as high (two revisions once made at once) also needs a bump: the current one is the newest
  else if (existing.some((r) => r !== mine && r.revision >= mine.revision)) plan.current = plan.bump = max + 1;
  const old = existing.filter((r) => r.metadata.name !== currentName).sort((a, b) => a.revision - b.revision);
  const excess = old.length - Math.max(0, limit);
  for (let i = 0; i < excess; i++) plan.remove.push(old[i].metadata.name);
  return plan;
}
