/**
 * Checks on a repository's transparency log made by the federation commands (par mirror,
 * lock, monitor): filled in on the registry log reader (tlog/).
 */
import type { StoreOptions } from '../registry/index.js';

export async function verifyOriginLog(_ref: string, _opts: StoreOptions, _logKeys: string[]): Promise<{ size: number } | undefined> {
  return undefined;
}
