/**
 * What a client may ask the sequencer (docs/transparency.md "The sequencer"), checked before
 * anything is read from a registry: the body's size, its JSON, and each field's type and
 * range. A refusal carries the HTTP status, a stable code and a message naming the field.
 */

/** The largest request body read (a checkpoint note is well under 4 KiB). */
export const MAX_REQUEST_BYTES = 64 * 1024;

export class SequencerRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SequencerRequestError';
  }
}

export interface AppendRequest {
  /** HOST[:PORT]/REPOSITORY, exactly as the sequencer serves it */
  repository: string;
  revision: number;
  /** the manifest digest the pusher published; the sequencer refuses when rev-N names another */
  digest?: string;
}

export interface ConsistentRequest {
  /** a signed checkpoint note of one of the served logs */
  checkpoint: string;
  /** which log (default: the one whose origin the checkpoint names) */
  repository?: string;
}

const bad = (message: string) => new SequencerRequestError(400, 'BAD_REQUEST', message);

/** The routes and their methods; anything else is 404 / 405. */
export function routeOf(method: string | undefined, url: string | undefined): 'append' | 'consistent' {
  const path = (url ?? '').split('?')[0];
  const route = path === '/v1/append' ? 'append' : path === '/v1/consistent' ? 'consistent' : undefined;
  if (!route)
    throw new SequencerRequestError(404, 'NOT_FOUND', `no such endpoint ${JSON.stringify(path)}: POST /v1/append or /v1/consistent`);
  if (method !== 'POST') throw new SequencerRequestError(405, 'METHOD_NOT_ALLOWED', `${path} takes POST, not ${method}`);
  return route;
}

/** The body as a JSON object (declared and actual size bounded by MAX_REQUEST_BYTES). */
export function parseBody(body: Uint8Array, contentType: string | undefined): Record<string, unknown> {
  if (body.length > MAX_REQUEST_BYTES)
    throw new SequencerRequestError(413, 'TOO_LARGE', `the request body is over ${MAX_REQUEST_BYTES} bytes`);
  if (!/^application\/json\s*(;|$)/i.test(contentType ?? ''))
    throw bad(`the request must be application/json, not ${JSON.stringify(contentType ?? '')}`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (e) {
    throw bad(`the body is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('the body must be a JSON object');
  return v as Record<string, unknown>;
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  if (extra.length) throw bad(`unknown field ${JSON.stringify(extra[0])}: the fields are ${allowed.join(', ')}`);
}

function repositoryField(v: unknown): string {
  if (typeof v !== 'string' || !/^[a-z0-9.-]+(:[0-9]{1,5})?\/[a-z0-9._/-]+$/.test(v) || v.length > 512)
    throw bad(`"repository" must be HOST[:PORT]/REPOSITORY as the sequencer serves it, got ${JSON.stringify(v)}`);
  return v;
}

export function parseAppendRequest(body: Record<string, unknown>): AppendRequest {
  onlyFields(body, ['repository', 'revision', 'digest']);
  const repository = repositoryField(body.repository);
  const revision = body.revision;
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0)
    throw bad(`"revision" must be a non-negative integer, got ${JSON.stringify(revision)}`);
  const digest = body.digest;
  if (digest !== undefined && (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)))
    throw bad(`"digest" must be a manifest digest sha256:<64 hex>, got ${JSON.stringify(digest)}`);
  return { repository, revision, ...(digest !== undefined ? { digest } : {}) };
}

export function parseConsistentRequest(body: Record<string, unknown>): ConsistentRequest {
  onlyFields(body, ['checkpoint', 'repository']);
  const checkpoint = body.checkpoint;
  if (typeof checkpoint !== 'string' || checkpoint === '') throw bad('"checkpoint" must be a signed checkpoint note (a non-empty string)');
  const repository = body.repository === undefined ? undefined : repositoryField(body.repository);
  return { checkpoint, ...(repository !== undefined ? { repository } : {}) };
}

/** Codes of an append's refusal that say the request conflicts with the log as it stands. */
const CONFLICTS = new Set(['TLOG_FORK', 'TLOG_ROLLBACK', 'TLOG_DUPLICATE_REVISION', 'TLOG_TAG_MISMATCH']);
/** Codes that say the checkpoint a client sent is not one of this log's. */
const BAD_CHECKPOINT = new Set([
  'TLOG_NOTE_MALFORMED',
  'TLOG_NOTE_BAD_KEY',
  'TLOG_NOTE_BAD_SIGNATURE',
  'TLOG_NOTE_UNVERIFIED',
  'TLOG_CHECKPOINT_MALFORMED',
  'TLOG_ORIGIN_MISMATCH',
  'TLOG_KEY_NOT_FOR_ORIGIN',
]);
/** Registry refusals of the archive itself: what was published is not what its signature says. */
const BAD_ARCHIVE = new Set(['SUMMARY_MISMATCH', 'DIGEST_MISMATCH', 'BAD_MANIFEST', 'ARCHIVE_TOO_LARGE']);

/**
 * The HTTP status and code of a refusal: 400 for a request that is wrong in itself, 404 for
 * what is not there, 409 for a conflict with the log, 422 for an archive that does not
 * verify, 502 for a registry that failed, 503 for a sequencer that lost its lease.
 */
export function replyOf(err: unknown): { status: number; code: string; message: string } {
  const e = err as { name?: string; code?: unknown; message?: string };
  const message = e?.message ?? String(err);
  if (err instanceof SequencerRequestError) return { status: err.status, code: err.code, message };
  const code = typeof e?.code === 'string' ? e.code : 'INTERNAL';
  if (e?.name === 'TlogError') {
    if (CONFLICTS.has(code)) return { status: 409, code, message };
    if (BAD_CHECKPOINT.has(code)) return { status: 400, code, message };
    if (code === 'TLOG_NO_LOG') return { status: 404, code, message };
    if (code === 'TLOG_SEQUENCER_REFUSED') return { status: 503, code, message };
    return { status: 500, code, message };
  }
  if (e?.name === 'ParError') return { status: 422, code, message };
  if (e?.name === 'RegistryError') {
    if (code === 'REVISION_NOT_FOUND' || code === 'NOT_FOUND') return { status: 404, code, message };
    if (BAD_ARCHIVE.has(code)) return { status: 422, code, message };
    return { status: 502, code, message };
  }
  return { status: 500, code: 'INTERNAL', message };
}
