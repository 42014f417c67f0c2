/**
 * The tag each published revision carries in its repository: `rev-<N>` (docs/storage.md). A
 * revision's tag never moves; the transparency log (tlog/) records the digest it names.
 */

const REVISION_TAG = /^rev-(0|[1-9][0-9]{0,15})$/;

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
