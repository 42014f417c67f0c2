/**
 * The agent's side of per-instance pull credentials (controller/credentials/pull.ts): an
 * instance that names pull secrets is pulled with the credential the controller wrote for it
 * into the Secret gantry-pull-<hash of ns/name> in the credentials namespace (gantry-nodes, the
 * only namespace where the agent may read Secrets, and `get` only) — the one entry for
 * the archive's registry, **sealed to this node's key** (registry/sealed-credential.ts), so
 * the Secret another node's agent can read holds nothing it can open. The agent never reads
 * the Provider's Secrets in the instance's namespace (its RBAC does not allow it). The Secret
 * is read on every pull, so a rotated credential reaches the next pull without a restart.
 *
 *   - missing, for another uid (an earlier instance of that name), not sealed (an older
 *     controller's clear copy: never used), waiting for this node's seal key, or sealed to
 *     another key (this node's key was remade): CredentialsPending, retried;
 *   - carrying the controller's refusal (the Provider's secret is missing or invalid): that
 *     PullSecretError, reported as the instance's reason as before;
 *   - otherwise the opened docker config, as the one PullSecret to match the ref against.
 */
import type { KeyPair } from '@nats-io/nkeys';
import { instanceCredsLabels, instancePullCredsSecretName, type ProviderInstance } from '../api/index.js';
import { PullSecretError, type PullSecret, type PullSecretErrorCode } from '../registry/pull-secrets.js';
import { openSealed, SealError } from '../registry/sealed-credential.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import { InstanceFailure } from './failure.js';

/** Must match controller/credentials/pull.ts (agent/ does not import controller/). */
const PULL_SECRET_ERROR_ANNOTATION = 'gantry.dev/pull-secret-error';
const PULL_PENDING_ANNOTATION = 'gantry.dev/pull-credential-pending';
const SEALED_KEY = 'sealed';
const CODES: readonly PullSecretErrorCode[] = ['PULL_SECRET_MISSING', 'PULL_SECRET_INVALID', 'PULL_SECRET_UNREADABLE'];

interface SecretLike {
  type?: string;
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

export async function instancePullSecrets(
  kube: KubeClient,
  /** The credentials namespace (gantry-nodes). */
  credentialsNamespace: string,
  sealKey: KeyPair,
  inst: ProviderInstance,
): Promise<PullSecret[]> {
  if (!inst.spec.archive.pullSecrets?.length) return [];
  const ns = inst.metadata.namespace ?? 'default';
  const name = instancePullCredsSecretName(ns, inst.metadata.name);
  const where = `Secret ${credentialsNamespace}/${name}`;
  let secret: SecretLike;
  try {
    secret = await kube.get(`/api/v1/namespaces/${encodeURIComponent(credentialsNamespace)}/secrets/${name}`);
  } catch (err) {
    if (isNotFound(err))
      throw new InstanceFailure(
        'CredentialsPending',
        `waiting for the controller to write this instance's pull credential (${where})`,
        true,
      );
    throw new InstanceFailure('CredentialsPending', `cannot read ${where}: ${(err as Error).message}`, true);
  }
  if (secret.metadata?.labels?.[instanceCredsLabels.uid] !== inst.metadata.uid) {
    throw new InstanceFailure('CredentialsPending', `${where} is not (yet) for this instance (uid ${inst.metadata.uid})`, true);
  }
  const refused = secret.metadata?.annotations?.[PULL_SECRET_ERROR_ANNOTATION];
  if (refused) {
    const colon = refused.indexOf(': ');
    const code = refused.slice(0, colon) as PullSecretErrorCode;
    throw new PullSecretError(CODES.includes(code) ? code : 'PULL_SECRET_INVALID', colon > 0 ? refused.slice(colon + 2) : refused);
  }
  const pending = secret.metadata?.annotations?.[PULL_PENDING_ANNOTATION];
  if (pending) throw new InstanceFailure('CredentialsPending', `${where}: ${pending}`, true);
  const sealed = secret.data?.[SEALED_KEY];
  if (typeof sealed !== 'string')
    throw new InstanceFailure(
      'CredentialsPending',
      `${where} holds no credential sealed to this node; waiting for the controller to seal it`,
      true,
    );
  let dockerConfig: string;
  try {
    dockerConfig = openSealed(sealKey, Buffer.from(sealed, 'base64').toString('utf8'));
  } catch (err) {
    const code = err instanceof SealError ? err.code : 'SEALED_UNOPENABLE';
    throw new InstanceFailure('CredentialsPending', `${where}: ${code}: ${(err as Error).message}`, true);
  }
  return [{ namespace: credentialsNamespace, name, dockerConfig }];
}
