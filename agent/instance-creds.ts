/**
 * The membrane on the agent's side: a provider host connects to NATS as its own instance,
 * with the credentials the controller minted into the Secret gantry-instance-<hash of ns/name>
 * (controller/membrane.ts) in the agent's namespace. The agent reads it (checking that it is
 * for this instance's uid) and writes it to a 0600 file in a 0700 directory for the host.
 * Until the Secret exists the instance waits as CredentialsPending, and retries.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instanceCredsLabels, instanceCredsSecretName, type ProviderInstance } from '../api/index.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import { InstanceFailure } from './failure.js';

export async function instanceCreds(kube: KubeClient, namespace: string, dir: string, inst: ProviderInstance): Promise<string> {
  const ns = inst.metadata.namespace ?? 'default';
  const name = instanceCredsSecretName(ns, inst.metadata.name);
  let secret: { metadata?: { labels?: Record<string, string> }; data?: Record<string, string> };
  try {
    secret = await kube.get(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${name}`);
  } catch (err) {
    if (isNotFound(err))
      throw new InstanceFailure(
        'CredentialsPending',
        `waiting for the controller to write this instance's NATS credentials (Secret ${namespace}/${name})`,
        true,
      );
    throw new InstanceFailure('CredentialsPending', `cannot read Secret ${namespace}/${name}: ${(err as Error).message}`, true);
  }
  if (secret.metadata?.labels?.[instanceCredsLabels.uid] !== inst.metadata.uid || !secret.data?.['nats.creds']) {
    throw new InstanceFailure(
      'CredentialsPending',
      `Secret ${namespace}/${name} is not (yet) for this instance (uid ${inst.metadata.uid})`,
      true,
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${inst.metadata.uid}.creds`);
  writeFileSync(file, Buffer.from(secret.data['nats.creds'], 'base64'), { mode: 0o600 });
  return file;
}
