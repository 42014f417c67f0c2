/**
 * Steps 5–6 of verifying a Provider Archive (par/verify.ts lists them all): the binaries a walk
 * found and the hashes the claims sign pair up exactly, and every binary hashed matches its
 * signed SHA-256; then what a verified archive reports for each target.
 */
import type { ProviderClaims } from './claims.js';
import { WORLD_TARGET } from './entries.js';
import { ParError } from './errors.js';
import type { ArchiveScan } from './scan.js';

export interface ParTarget {
  /** uppercase hex SHA-256: computed from the bytes when read, else the signed value */
  sha256: string;
  size: number;
}

/** Steps 5–6, plus the selected target's presence (PAR_TARGET_NOT_FOUND); throws ParError. */
export function checkBinaries(claims: ProviderClaims, scan: ArchiveScan, target: string | undefined): void {
  if (![...scan.sizes.keys()].some((t) => t !== WORLD_TARGET))
    throw new ParError('PAR_NO_BINARIES', 'archive has no binaries (<arch>-<os>.bin); nothing to run');
  for (const t of scan.sizes.keys()) {
    if (!(t in claims.hashes))
      throw new ParError('PAR_UNHASHED_TARGET', `binary for ${t} has no signed hash in the claims; it may have been added after signing`);
  }
  for (const t of Object.keys(claims.hashes)) {
    if (!scan.sizes.has(t)) throw new ParError('PAR_MISSING_BINARY', `claims sign a hash for ${t} but the archive has no binary for it`);
  }
  if (target !== undefined && !scan.sizes.has(target)) {
    const have = [...scan.sizes.keys()].join(', ');
    throw new ParError('PAR_TARGET_NOT_FOUND', `archive has no binary for target ${target} (it has: ${have})`);
  }
  for (const [t, hex] of scan.computed) {
    if (claims.hashes[t] !== hex) {
      throw new ParError(
        'PAR_HASH_MISMATCH',
        `binary for ${t} hashes to ${hex} but the claims sign ${claims.hashes[t]}; the binary was altered`,
      );
    }
  }
}

/** Each binary's size and hash: computed from its bytes when it was read, else the signed value. */
export function targetsOf(claims: ProviderClaims, scan: ArchiveScan): Record<string, ParTarget> {
  const out: Record<string, ParTarget> = {};
  for (const t of [...scan.sizes.keys()].sort()) {
    out[t] = { sha256: scan.computed.get(t) ?? claims.hashes[t], size: scan.sizes.get(t)! };
  }
  return out;
}
