/**
 * The agent's side of per-instance pull credentials (controller/instance-pull-creds.ts): an
 * instance that names pull secrets is pulled with the credential the controller wrote for it
 * into the Secret gantry-pull-<hash of ns/name> in the agent's own (Gantry) namespace — the
 * one entry for the archive's registry. The agent never reads the Provider's Secrets in the
 * instance's namespace (its RBAC does not allow it). The Secret is read on every pull, so a
 * rotated credential reaches the next pull without a restart.
 *
 *   - missing, or for another uid (an earlier instance of that name): CredentialsPending, retried;
 *   - carrying the controller's refusal (the Provider's secret is missing or invalid): that
 *     PullSecretError, reported as the instance's reason as before;
 *   - otherwise the one PullSecret to match the ref against (registry/pull-secrets.ts).
 */
import { instanceCredsLabels, instancePullCredsSecretName, type ProviderInstance } from '../api/index.js';
import { PullSecretError, pullSecretOf, type PullSecret, type PullSecretErrorCode } from '../registry/pull-secrets.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import { InstanceFailure } from './failure.js';

/** Must match controller/instance-pull-creds.ts (agent/ does not import controller/). */
const PULL_SECRET_ERROR_ANNOTATION = 'gantry.dev/pull-secret-error';
const CODES: readonly PullSecretErrorCode[] = ['PULL_SECRET_MISSING', 'PULL_SECRET_INVALID', 'PULL_SECRET_UNREADABLE'];

export async function instancePullSecrets(kube: KubeClient, gantryNamespace: string, inst: ProviderInstance): Promise<PullSecret[]> {
  if (!inst.spec.archive.pullSecrets?.length) return [];
  const ns = inst.metadata.namespace ?? 'default';
  const name = instancePullCredsSecretName(ns, inst.metadata.name);
  let secret: {
    type?: string;
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    data?: Record<string, string>;
  };
  try {
    secret = await kube.get(`/api/v1/namespaces/${encodeURIComponent(gantryNamespace)}/secrets/${name}`);
  } catch (err) {
    if (isNotFound(err))
      throw new InstanceFailure(
        'CredentialsPending',
        `waiting for the controller to write this instance's pull credential (Secret ${gantryNamespace}/${name})`,
        true,
      );
    throw new InstanceFailure('CredentialsPending', `cannot read Secret ${gantryNamespace}/${name}: ${(err as Error).message}`, true);
  }
  if (secret.metadata?.labels?.[instanceCredsLabels.uid] !== inst.metadata.uid) {
    throw new InstanceFailure(
      'CredentialsPending',
      `Secret ${gantryNamespace}/${name} is not (yet) for this instance (uid ${inst.metadata.uid})`,
      true,
    );
  }
  const refused = secret.metadata?.annotations?.[PULL_SECRET_ERROR_ANNOTATION];
  if (refused) {
    const colon = refused.indexOf(': ');
    const code = refused.slice(0, colon) as PullSecretErrorCode;
    throw new PullSecretError(CODES.includes(code) ? code : 'PULL_SECRET_INVALID', colon > 0 ? refused.slice(colon + 2) : refused);
  }
  return [pullSecretOf(secret, gantryNamespace, name)];
}
