/**
 * Pull secrets, read once and matched once, for the controller and the agent alike: a
 * Provider names `kubernetes.io/dockerconfigjson` Secrets in its namespace (as for container
 * images; copied onto each instance), and the first one with an entry for the archive's
 * registry host gives the credentials. `pullSecretOf` checks a Secret object, `readPullSecrets`
 * GETs them (the agent; the controller's cache, never its reconciles), `credentialsFor` picks
 * the credentials for a ref. Every refusal is a `PullSecretError` with a stable code, whose
 * reasons are in api/reasons.ts.
 */
import { isNotFound, resourcePath, type KubeClient } from '../runtime/kube.js';
import { credentialsFromDockerConfig, type RegistryCredentials } from './distribution/auth.js';
import { parseArchiveRef } from './reference.js';

export const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';

export type PullSecretErrorCode =
  | 'PULL_SECRET_MISSING' // no Secret of that name in the namespace
  | 'PULL_SECRET_INVALID' // not a dockerconfigjson Secret, or its document is not docker config JSON
  | 'PULL_SECRET_UNREADABLE'; // the API server did not answer the GET

export class PullSecretError extends Error {
  override name = 'PullSecretError';
  constructor(
    readonly code: PullSecretErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** One pull secret's `.dockerconfigjson` document, and where it came from (for messages). */
export interface PullSecret {
  namespace: string;
  name: string;
  dockerConfig: string;
}

interface SecretLike {
  type?: string;
  data?: Record<string, string>;
}

/** The pull secret in a Secret object, or a PullSecretError saying what is wrong with it. */
export function pullSecretOf(secret: SecretLike, namespace: string, name: string): PullSecret {
  if (secret.type !== DOCKER_CONFIG_JSON) {
    throw new PullSecretError(
      'PULL_SECRET_INVALID',
      `pull secret ${namespace}/${name} has type ${secret.type ?? '(none)'}; expected ${DOCKER_CONFIG_JSON}`,
    );
  }
  const b64 = secret.data?.['.dockerconfigjson'];
  if (typeof b64 !== 'string')
    throw new PullSecretError('PULL_SECRET_INVALID', `pull secret ${namespace}/${name} has no .dockerconfigjson key`);
  return { namespace, name, dockerConfig: Buffer.from(b64, 'base64').toString('utf8') };
}

/** GETs one pull secret. */
export async function readPullSecret(kube: KubeClient, namespace: string, name: string): Promise<PullSecret> {
  let secret: SecretLike;
  try {
    secret = await kube.get<SecretLike>(resourcePath({ version: 'v1', plural: 'secrets', namespace, name }));
  } catch (err) {
    if (isNotFound(err)) throw new PullSecretError('PULL_SECRET_MISSING', `pull secret ${namespace}/${name} does not exist`);
    throw new PullSecretError('PULL_SECRET_UNREADABLE', `reading pull secret ${namespace}/${name}: ${(err as Error).message}`);
  }
  return pullSecretOf(secret, namespace, name);
}

/** GETs the named pull secrets, in order. */
export async function readPullSecrets(kube: KubeClient, namespace: string, names: string[]): Promise<PullSecret[]> {
  const out: PullSecret[] = [];
  for (const name of names) out.push(await readPullSecret(kube, namespace, name));
  return out;
}

/** The credentials for `ref`'s registry from the first secret that has an entry for its host; none for an `oci-layout:` ref. */
export function credentialsFor(ref: string, secrets: readonly PullSecret[]): RegistryCredentials | undefined {
  if (secrets.length === 0) return undefined;
  const parsed = parseArchiveRef(ref);
  if (parsed.kind === 'oci-layout') return undefined;
  for (const s of secrets) {
    let credentials: RegistryCredentials | undefined;
    try {
      credentials = credentialsFromDockerConfig(s.dockerConfig, parsed.host);
    } catch (err) {
      throw new PullSecretError(
        'PULL_SECRET_INVALID',
        `pull secret ${s.namespace}/${s.name} is not valid docker config JSON: ${(err as Error).message}`,
      );
    }
    if (credentials) return credentials;
  }
  return undefined;
}

/**
 * The docker config an instance needs and nothing more: the one entry `credentialsFor` picks
 * for `ref`'s registry host (`{"auths":{}}` — anonymous — when none has one). The controller
 * hands this to the node agent instead of the Provider's pull secrets, which may hold
 * credentials for other registries too.
 */
export function narrowDockerConfig(ref: string, secrets: readonly PullSecret[]): string {
  const c = credentialsFor(ref, secrets);
  const parsed = parseArchiveRef(ref);
  if (!c || parsed.kind === 'oci-layout') return JSON.stringify({ auths: {} });
  const entry: Record<string, string> = {};
  if (c.username !== undefined) entry.username = c.username;
  if (c.password !== undefined) entry.password = c.password;
  if (c.identityToken) entry.identitytoken = c.identityToken;
  if (c.registryToken) entry.registrytoken = c.registryToken;
  return JSON.stringify({ auths: { [parsed.host]: entry } });
}
