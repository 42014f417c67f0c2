/**
 * `gantry rollout history` and `undo`: a Provider's ControllerRevisions (api/history.ts) in
 * kubectl's words. Undo writes a revision's template into the spec with one JSON Patch that
 * also removes the template fields the revision lacked and fails if the Provider changed
 * meanwhile; the controller then rolls it out like any edit (and renumbers the revision).
 */
import { stringify } from 'yaml';
import {
  changeCauseAnnotation,
  type ControllerRevision,
  canonicalJson,
  controllerRevisionsPath,
  labels,
  type Provider,
  revisionsOf,
  templateOf,
  undoPatch,
} from '../api/index.js';
import { cliError } from './keys.js';
import { getProvider, providerPath, type RolloutTarget } from './rollout-status.js';

async function history(t: RolloutTarget): Promise<{ p: Provider; revisions: ControllerRevision[] }> {
  const p = await getProvider(t);
  const l = await t.client.list<ControllerRevision>(controllerRevisionsPath(t.namespace), {
    labelSelector: `${labels.provider}=${t.name}`,
  });
  return { p, revisions: revisionsOf(p, l.items) };
}

/** kubectl's tabbed columns (tabwriter with padding 2). */
function table(rows: string[][]): string {
  const width = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)) + 2);
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(width[i]) : c)).join('')).join('\n');
}

export async function rolloutHistory(t: RolloutTarget, revision: number): Promise<void> {
  try {
    const { revisions } = await history(t);
    if (revision > 0) {
      const r = revisions.find((x) => x.revision === revision);
      if (!r) throw cliError(`unable to find the specified revision ${revision}`, 1);
      const body = stringify({ template: r.data }).trimEnd().replace(/^/gm, '  ');
      const cause = r.metadata.annotations?.[changeCauseAnnotation];
      process.stdout.write(
        `provider.gantry.dev/${t.name} with revision #${revision}\n${body}\n${cause ? `  change-cause: ${cause}\n` : ''}` +
          `  digest: ${r.metadata.annotations?.['gantry.dev/digest'] ?? '<unknown>'}\n\n`,
      );
      return;
    }
    const rows = [
      ['REVISION', 'CHANGE-CAUSE'],
      ...revisions.map((r) => [String(r.revision), r.metadata.annotations?.[changeCauseAnnotation] || '<none>']),
    ];
    process.stdout.write(`provider.gantry.dev/${t.name}\n${table(rows)}\n\n`);
  } finally {
    t.client.close();
  }
}

export async function rolloutUndo(t: RolloutTarget, toRevision: number): Promise<void> {
  try {
    const { p, revisions } = await history(t);
    if (p.spec.paused)
      throw cliError(
        `you cannot rollback a paused provider; resume it first with 'gantry rollout resume provider/${t.name}' and try again`,
        1,
      );
    // default: the previous revision, the second newest (as kubectl's deployment rollback)
    const target = toRevision > 0 ? revisions.find((r) => r.revision === toRevision) : revisions.at(-2);
    if (!target) {
      if (toRevision > 0) throw cliError(`unable to find specified revision ${toRevision} in history`, 1);
      throw cliError(`no rollout history found for provider "${t.name}"`, 1);
    }
    const current = p.status?.resolved ? templateOf(p.spec, p.status.resolved) : undefined;
    if (current && canonicalJson(current) === canonicalJson(target.data)) {
      process.stdout.write(
        `provider.gantry.dev/${t.name} skipped rollback (current template already matches revision ${target.revision})\n`,
      );
      return;
    }
    const ops = undoPatch(p.spec, p.metadata.resourceVersion!, target.data);
    try {
      await t.client.request('PATCH', providerPath(t), { body: ops, contentType: 'application/json-patch+json' });
    } catch (err) {
      throw cliError(`rollback of provider ${t.namespace}/${t.name} failed: ${(err as Error).message}`, 1);
    }
    process.stdout.write(`provider.gantry.dev/${t.name} rolled back\n`);
  } finally {
    t.client.close();
  }
}
