/**
 * `gantry rollout history|undo|status|pause|resume provider/NAME`, after `kubectl rollout`:
 * the same words, output and exit statuses, for a Provider and its ControllerRevisions
 * (api/history.ts; the controller keeps them, controller/history/).
 *   history [--revision N]        the revisions and their change causes, or one's template
 *   undo [--to-revision N]        write a revision's template back into the spec (default: the previous one)
 *   status [--watch=false] [--timeout D]   wait until the rollout is done; 1 on a progress deadline
 *   pause / resume                set / clear spec.paused
 * Exit statuses: 0 done, 1 the thing asked about failed (not found, no such revision, already
 * paused, deadline exceeded, timed out), 2 a usage error (not provider/NAME, a bad number).
 */
import type { Command } from 'commander';
import { cliError } from './keys.js';
import type { RolloutTarget } from './rollout-status.js';

// The commands' code (and @kubernetes/client-node under it, ~50 MB) loads only when one runs:
// every other gantry command starts without it.
const history = () => import('./rollout-history.js');

export function registerRollout(program: Command): void {
  const rollout = program.command('rollout').description("manage a Provider's rollout, as kubectl rollout does a Deployment's");
  const target = (c: Command) =>
    c
      .option('-n, --namespace <ns>', "the Provider's namespace (default: the kubeconfig context's, else default)")
      .option('--kubeconfig <file>', "kubeconfig (default: $KUBECONFIG, else the running local sandbox's)");
  target(rollout.command('history <provider/NAME>').description('list the rollout history (ControllerRevisions)'))
    .option('--revision <n>', "show this revision's template")
    .action(async (ref: string, o) => {
      // flags first: a usage error needs no kubeconfig
      const revision = o.revision === undefined ? 0 : revisionFlag('--revision', o.revision);
      await (await history()).rolloutHistory(await open(ref, o), revision);
    });
  target(rollout.command('undo <provider/NAME>').description("roll back to a revision's template (default: the previous one)"))
    .option('--to-revision <n>', 'the revision to roll back to (0: the previous one)', '0')
    .action(async (ref: string, o) => {
      const revision = revisionFlag('--to-revision', o.toRevision);
      await (await history()).rolloutUndo(await open(ref, o), revision);
    });
  target(rollout.command('status <provider/NAME>').description('wait until the rollout is done (1 on a progress deadline)'))
    .option('-w, --watch [bool]', 'watch until done (--watch=false: print the state once)', 'true')
    .option('--timeout <duration>', 'give up after this long (e.g. 90s, 5m; 0: never)', '0s')
    .action(async (ref: string, o) => {
      const flags = { watch: boolFlag('--watch', o.watch), timeoutMs: durationFlag(o.timeout) };
      await (await import('./rollout-status.js')).rolloutStatus(await open(ref, o), flags);
    });
  target(rollout.command('pause <provider/NAME>').description('stop rolling out template changes (spec.paused)')).action(
    async (ref: string, o) => setPaused(await open(ref, o), true),
  );
  target(rollout.command('resume <provider/NAME>').description('roll out template changes again')).action(async (ref: string, o) =>
    setPaused(await open(ref, o), false),
  );
}

/** `provider/NAME` (also `providers/`, `provider.gantry.dev/`): what kubectl accepts for the kind; anything else is a usage error. */
export function parseTarget(ref: string): string {
  const m = /^([^/]+)\/([^/]+)$/.exec(ref);
  if (!m) throw cliError(`rollout: expected provider/NAME, not "${ref}"`, 2);
  if (!['provider', 'providers', 'provider.gantry.dev', 'providers.gantry.dev'].includes(m[1].toLowerCase()))
    throw cliError(`rollout: only Providers roll out here (provider/NAME), not "${m[1]}"`, 2);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(m[2]) || m[2].length > 253) throw cliError(`rollout: "${m[2]}" is not a Provider name`, 2);
  return m[2];
}

function revisionFlag(flag: string, v: string): number {
  if (!/^\d{1,15}$/.test(v)) throw cliError(`rollout: ${flag} must be a revision number (0 or more), not "${v}"`, 2);
  return Number(v);
}

function boolFlag(flag: string, v: string | boolean): boolean {
  if (v === true || v === 'true') return true;
  if (v === 'false') return false;
  throw cliError(`rollout: ${flag} must be true or false, not "${v}"`, 2);
}

/** A Go-style duration as kubectl takes it: 0, 90s, 5m, 1h30m, 500ms. */
export function durationFlag(v: string): number {
  if (v === '0') return 0;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== v)
    throw cliError(`rollout: --timeout must be a duration like 90s, 5m or 1h, not "${v}"`, 2);
  return parts.reduce((t, p) => t + Number(p[1]) * unit[p[2]], 0);
}

async function open(ref: string, o: { namespace?: string; kubeconfig?: string }): Promise<RolloutTarget> {
  const name = parseTarget(ref);
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { defaultStateDir } = await import('../sandbox/index.js');
  const { KubeClient, loadKubeConfig, currentNamespace } = await import('../runtime/kube.js');
  const sandboxKubeconfig = join(process.env.GANTRY_SANDBOX_DIR ?? defaultStateDir(), 'kubeconfig');
  const kubeconfigPath = o.kubeconfig ?? (process.env.KUBECONFIG || (existsSync(sandboxKubeconfig) ? sandboxKubeconfig : undefined));
  const kc = loadKubeConfig({ kubeconfigPath });
  return { client: new KubeClient(kc), name, namespace: o.namespace ?? currentNamespace(kc) ?? 'default' };
}

async function setPaused(t: RolloutTarget, paused: boolean): Promise<void> {
  const { getProvider, providerPath } = await import('./rollout-status.js');
  try {
    const p = await getProvider(t);
    if (!!p.spec.paused === paused) throw cliError(`provider.gantry.dev "${t.name}" ${paused ? 'is already paused' : 'is not paused'}`, 1);
    // resume removes the field: an absent spec.paused is the unpaused state, as kubectl leaves a Deployment
    await t.client.mergePatch(providerPath(t), { spec: { paused: paused ? true : null } });
    process.stdout.write(`provider.gantry.dev/${t.name} ${paused ? 'paused' : 'resumed'}\n`);
  } finally {
    t.client.close();
  }
}
