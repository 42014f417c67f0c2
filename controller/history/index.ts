/** A Provider's rollout history as ControllerRevisions (api/history.ts has the template and its hash). */
export { planHistory, type HistoryPlan } from './plan.js';
export { ProviderHistory, digestAnnotation, type RevisionCache, type HistoryDraft } from './history.js';
