/**
 * The tags a published revision carries in its repository (docs/storage.md): `rev-<N>`, which
 * never moves and whose digest the transparency log (tlog/) records, and the claims version as
 * a convenience tag that may move to a newer revision. Tags beginning `tlog.` belong to the log.
 */

const REVISION_TAG = /^rev-(0|[1-9][0-9]{0,15})$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Tags reserved for the transparency log (docs/transparency.md): a version tag never takes one. */
export const LOG_TAG_PREFIX = 'tlog.';

/** The tag of `revision`: `rev-<revision>`. */
export function revisionTag(revision: number): string {
  return `rev-${revision}`;
}

/** The revision a `rev-<N>` tag names, or undefined for any other tag. */
export function parseRevisionTag(tag: string): number | undefined {
  const m = REVISION_TAG.exec(tag);
  return m ? Number(m[1]) : undefined;
}

export function isRevisionTag(tag: string): boolean {
  return REVISION_TAG.test(tag);
}

/**
 * Whether the claims `version` may also be written as a tag: a valid OCI tag that is neither a
 * revision tag, `latest`, nor one of the log's.
 */
export function isVersionTag(version: string): boolean {
  return TAG.test(version) && !isRevisionTag(version) && version !== 'latest' && !version.startsWith(LOG_TAG_PREFIX);
}
