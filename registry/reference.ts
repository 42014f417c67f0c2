/**
 * Archive references: where a Provider's archives live. Two kinds:
 * - `HOST[:PORT]/REPOSITORY` — a repository in an OCI distribution registry; the repository
 *   path follows the distribution grammar (lowercase components separated by `/`, `.`, `_`,
 *   `__` or `-`). No tag or digest: revisions are chosen separately.
 * - `oci-layout:PATH` — an OCI image-layout directory on the local disk (the sandbox default).
 */
import { resolve } from 'node:path';
import { RegistryError } from './errors.js';

export type ArchiveRef = { kind: 'registry'; host: string; repository: string } | { kind: 'oci-layout'; path: string };

const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const repositoryPattern = new RegExp(`^${component}(?:/${component})*$`);
const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function parseArchiveRef(ref: string): ArchiveRef {
  if (typeof ref !== 'string' || ref.trim() === '')
    throw new RegistryError('BAD_REF', 'archive reference is empty; expected HOST[:PORT]/REPOSITORY or oci-layout:PATH');
  if (ref.startsWith('oci-layout:')) {
    const path = ref.slice('oci-layout:'.length);
    if (!path) throw new RegistryError('BAD_REF', `archive reference "${ref}" has no directory after oci-layout:`);
    return { kind: 'oci-layout', path: resolve(path) };
  }
  if (/^[a-z]+:\/\//i.test(ref)) {
    throw new RegistryError(
      'BAD_REF',
      `archive reference "${ref}" must not carry a URL scheme; write HOST[:PORT]/REPOSITORY (use --plain-http for an HTTP registry)`,
    );
  }
  const slash = ref.indexOf('/');
  if (slash <= 0)
    throw new RegistryError(
      'BAD_REF',
      `archive reference "${ref}" has no registry host; expected HOST[:PORT]/REPOSITORY, e.g. ghcr.io/acme/payments`,
    );
  const host = ref.slice(0, slash);
  const repository = ref.slice(slash + 1);
  if (!hostPattern.test(host)) throw new RegistryError('BAD_REF', `archive reference "${ref}": "${host}" is not a registry host[:port]`);
  if (/[@:]/.test(repository)) {
    throw new RegistryError(
      'BAD_REF',
      `archive reference "${ref}" names a tag or digest; give the repository only and choose the revision separately (--revision N)`,
    );
  }
  if (repository.length > 255 || !repositoryPattern.test(repository)) {
    throw new RegistryError(
      'BAD_REF',
      `archive reference "${ref}": "${repository}" is not a valid repository name (lowercase letters, digits, and . _ - / separators)`,
    );
  }
  return { kind: 'registry', host, repository };
}

export function formatArchiveRef(ref: ArchiveRef): string {
  return ref.kind === 'registry' ? `${ref.host}/${ref.repository}` : `oci-layout:${ref.path}`;
}
