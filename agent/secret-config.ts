/**
 * The agent's side of per-instance secret config (controller/credentials/config.ts): an
 * instance whose `spec.secretConfig` is set gets the values of those keys from the Secret
 * gantry-config-<hash of ns/name> in the credentials namespace (gantry-nodes, the only
 * namespace where the agent may read Secrets, and `get` only), where the controller wrote them
 * **sealed to this node's key** (registry/sealed-credential.ts). The agent never reads the
 * Provider's Secrets. Its host is not started until the values are opened, and then only with
 * exactly the keys the instance names — nothing starts with half a config:
 *
 *   - the same key both in spec.config and secret: ConfigConflict (final: the spec is immutable
 *     and which value wins would be a guess);
 *   - the Secret missing, unreadable, for another uid (an earlier instance of that name),
 *     waiting for this node's seal key, or holding no envelope: ConfigPending, retried;
 *   - sealed to another key (another node's, or this node's before its key was remade):
 *     ConfigSealedForAnotherNode, retried (the controller reseals to the key on the Lease);
 *   - an envelope that does not open, or does not hold a JSON object of strings (tampered):
 *     ConfigUnopenable, final;
 *   - opened, but its keys are not exactly `spec.secretConfig.keys`: ConfigIncomplete, retried
 *     (the controller may still be rewriting it), naming the missing and extra keys.
 *
 * No message here holds a value; `redactSecrets` keeps them out of what others write (a
 * provider's own configure error, in status).
 */
import type { KeyPair } from '@nats-io/nkeys';
import { instanceConfigSecretName, instanceCredsLabels, type ProviderInstance } from '../api/index.js';
import { openSealed, type SealError } from '../registry/sealed-credential.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import { InstanceFailure } from './failure.js';

export { redactSecrets } from './host/redact.js';

/** Must match controller/credentials/config.ts (agent/ does not import controller/). */
const CONFIG_PENDING_ANNOTATION = 'gantry.dev/config-pending';
const SEALED_KEY = 'sealed';
const WHAT = 'secret config';

interface SecretLike {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/** The opened secret config values of `inst` (undefined when it has none), or an InstanceFailure saying why not. */
export async function instanceSecretConfig(
  kube: KubeClient,
  /** The credentials namespace (gantry-nodes). */
  credentialsNamespace: string,
  sealKey: KeyPair,
  inst: ProviderInstance,
): Promise<Record<string, string> | undefined> {
  const wanted = inst.spec.secretConfig?.keys;
  if (!wanted) return undefined;
  const both = wanted.filter((k) => Object.hasOwn(inst.spec.config ?? {}, k));
  if (both.length)
    throw new InstanceFailure(
      'ConfigConflict',
      `config keys ${both.join(', ')} are both in spec.config and secret (spec.secretConfig.keys)`,
    );
  const name = instanceConfigSecretName(inst.metadata.namespace ?? 'default', inst.metadata.name);
  const where = `Secret ${credentialsNamespace}/${name}`;
  const envelope = sealedEnvelope(await readSecret(kube, credentialsNamespace, name, where), inst, where);
  let opened: string;
  try {
    opened = openSealed(sealKey, envelope, WHAT);
  } catch (err) {
    const e = err as SealError;
    if (e.code === 'SEALED_FOR_ANOTHER_KEY') throw new InstanceFailure('ConfigSealedForAnotherNode', `${where}: ${e.message}`, true);
    throw new InstanceFailure('ConfigUnopenable', `${where}: ${e.code}: ${e.message}`);
  }
  return exactly(wanted, stringsOf(opened, where), where);
}

async function readSecret(kube: KubeClient, namespace: string, name: string, where: string): Promise<SecretLike> {
  try {
    return await kube.get<SecretLike>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${name}`);
  } catch (err) {
    if (isNotFound(err))
      throw new InstanceFailure('ConfigPending', `waiting for the controller to write this instance's secret config (${where})`, true);
    throw new InstanceFailure('ConfigPending', `cannot read ${where}: ${(err as Error).message}`, true);
  }
}

/** The envelope of a Secret written for this very instance, or why there is none yet. */
function sealedEnvelope(secret: SecretLike, inst: ProviderInstance, where: string): string {
  if (secret.metadata.labels?.[instanceCredsLabels.uid] !== inst.metadata.uid)
    throw new InstanceFailure('ConfigPending', `${where} is not (yet) for this instance (uid ${inst.metadata.uid})`, true);
  const pending = secret.metadata.annotations?.[CONFIG_PENDING_ANNOTATION];
  if (pending) throw new InstanceFailure('ConfigPending', `${where}: ${pending}`, true);
  const sealed = secret.data?.[SEALED_KEY];
  if (typeof sealed !== 'string')
    throw new InstanceFailure(
      'ConfigPending',
      `${where} holds no secret config sealed to this node; waiting for the controller to seal it`,
      true,
    );
  return Buffer.from(sealed, 'base64').toString('utf8');
}

/** The opened text as {key: string}; anything else was not sealed by the controller. */
function stringsOf(opened: string, where: string): Record<string, string> {
  let values: unknown;
  try {
    values = JSON.parse(opened);
  } catch {
    // not JSON: refused below, without quoting what was opened
  }
  const ok =
    typeof values === 'object' && values !== null && !Array.isArray(values) && Object.values(values).every((v) => typeof v === 'string');
  if (!ok) throw new InstanceFailure('ConfigUnopenable', `${where} opens, but not to a JSON object of string values`);
  return values as Record<string, string>;
}

/** The values when their keys are exactly `wanted`; otherwise which are missing and which are extra. */
function exactly(wanted: readonly string[], values: Record<string, string>, where: string): Record<string, string> {
  const missing = wanted.filter((k) => !Object.hasOwn(values, k));
  const extra = Object.keys(values).filter((k) => !wanted.includes(k));
  if (missing.length || extra.length) {
    const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not asked for ${extra.join(', ')}` : ''];
    throw new InstanceFailure(
      'ConfigIncomplete',
      `${where} does not hold exactly the keys of spec.secretConfig.keys: ${parts.filter(Boolean).join('; ')}`,
      true,
    );
  }
  return values;
}
