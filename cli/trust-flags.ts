/**
 * `--trust-configmap NAMESPACE/NAME` of `gantry controller` and `gantry agent`: the trust policy
 * watched at run time (api/trust-watch.ts) instead of `--trust-issuer` flags read once. The two
 * exclude each other, so one source says what is trusted. Light on purpose: the CLI's commands
 * import the watcher (and the Kubernetes client) only when they run.
 */
import type { Command } from 'commander';
import { parseConfigMapRef } from '../api/index.js';

/** Adds --trust-configmap to a command. */
export function trustConfigMapFlag(cmd: Command): Command {
  return cmd.option('--trust-configmap <namespace/name>', TRUST_CONFIGMAP_HELP);
}

const TRUST_CONFIGMAP_HELP =
  'watch this ConfigMap (NAMESPACE/NAME, e.g. gantry-system/gantry-trust) for the trusted issuers; changes apply at run time, a malformed update keeps the last valid policy (excludes --trust-issuer)';

/** The ConfigMap to watch, or undefined; exit 2 on a bad reference or when --trust-issuer is given too. */
export function trustConfigMapOf(o: { trustConfigmap?: string; trustIssuer: string[] }, command: string) {
  if (o.trustConfigmap === undefined) return undefined;
  if (o.trustIssuer.length > 0)
    throw Object.assign(
      new Error(
        `${command}: --trust-configmap and --trust-issuer exclude each other: with the ConfigMap watched, it alone says what is trusted`,
      ),
      { exitCode: 2 },
    );
  return parseConfigMapRef(o.trustConfigmap, '--trust-configmap');
}
