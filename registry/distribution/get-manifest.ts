/**
 * Reading a manifest by tag or by digest (DistributionClient.getManifest): every manifest type
 * Gantry reads in Accept, a body bounded in size, and for a reference that is a digest, the
 * bytes checked against it, so a registry cannot serve other content under a digest.
 */
import { isDigest, sha256Digest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../media-types.js';
import type { DistributionClient } from './client.js';
import { discard, MAX_MANIFEST_BYTES, readBounded } from './responses.js';

/** The Accept header of manifest requests: every manifest type Gantry reads. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].join(', ');

/** The manifest `reference` names in `client`'s repository, or undefined when there is none. */
export async function getManifest(
  client: DistributionClient,
  reference: string,
): Promise<{ bytes: Uint8Array; digest: string; mediaType?: string } | undefined> {
  const sent = await client.transport.send('GET', `/v2/${client.repository}/manifests/${reference}`, {
    actions: 'pull',
    retry: true,
    headers: { accept: MANIFEST_ACCEPT },
  });
  const { res } = sent;
  if (res.status === 404) {
    await discard(res);
    return undefined;
  }
  if (!res.ok) throw await client.failure(res, `get manifest ${reference}`);
  const bytes = await readBounded(res, MAX_MANIFEST_BYTES, `${client.description}@${reference}: the manifest`, sent);
  const digest = sha256Digest(bytes);
  if (isDigest(reference) && digest !== reference) {
    throw new RegistryError(
      'DIGEST_MISMATCH',
      `${client.description}: manifest asked for as ${reference} has digest ${digest}; the registry served different content`,
    );
  }
  const mediaType = res.headers.get('content-type')?.split(';')[0].trim();
  return { bytes, digest, mediaType };
}
