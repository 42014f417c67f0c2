/**
 * What a push owes tools Gantry did not write (oras, wash, wasmCloud hosts): layer titles they
 * can use as file names, and under wasmCloud's media types only containers wasmCloud reads.
 */
import { RegistryError } from './errors.js';

/**
 * Whose media types a push writes: Gantry's (artifactType, config blob with the summary and
 * claims) or wasmCloud's (`wash push`'s layout: its config type with `{}`, its layer type), so
 * `wash` and wasmCloud hosts can pull the archive. Gantry reads both.
 */
export type ArchiveMediaTypes = 'gantry' | 'wasmcloud';
export const ARCHIVE_MEDIA_TYPES: readonly ArchiveMediaTypes[] = ['gantry', 'wasmcloud'];

/**
 * Refuses (FORMAT_NOT_READABLE) a zip under wasmCloud's media types: wash and provider-archive
 * ≥ 0.2 read only tar and tar.gz, so a wasmCloud host would fail on it long after the push.
 */
export function checkReadableUnder(mediaTypes: ArchiveMediaTypes, format: string): void {
  if (mediaTypes === 'wasmcloud' && format === 'zip') {
    throw new RegistryError(
      'FORMAT_NOT_READABLE',
      "the archive is a zip, and wasmCloud's tools (wash, provider-archive ≥ 0.2) read only tar and tar.gz, so it is not pushed under wasmCloud's media types; make a tar.gz with `gantry par create --format tar.gz -o NAME.par.gz …` (same claims and binaries) and push that, or push this zip with Gantry's media types (--media-types gantry)",
    );
  }
}

/** The longest slug a title takes from a name or a version, so a title stays a sane file name. */
const MAX_SLUG = 100;

/**
 * A string as a file-name-safe slug: accents dropped, lower case, every run of characters
 * outside [a-z0-9._-] one `-`, no leading/trailing `.`/`-` (no hidden files, no `..`). Tools
 * like `oras pull` write a layer to its title, so nothing here may be a path.
 */
export function slug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, MAX_SLUG)
    .replace(/^[.-]+|[.-]+$/g, '');
}

/**
 * The archive layer's title: `<name>-<version>.par`, or `.par.gz` for a gzip'd tar (the
 * extension wasmCloud's tools give it), `<name>-r<revision>` when the claims carry no version.
 */
export function archiveTitle(claims: { name?: string | null; version?: string | null; revision: number }, format: string): string {
  const name = slug(claims.name ?? '') || 'provider';
  const version = slug(claims.version ?? '') || `r${claims.revision}`;
  return `${name}-${version}${format === 'tar.gz' ? '.par.gz' : '.par'}`;
}
