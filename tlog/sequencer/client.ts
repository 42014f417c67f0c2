/**
 * Asking a sequencer to append (`gantry par push --log-sequencer`) or whether a checkpoint is
 * consistent (monitors). Any refusal, or a sequencer that cannot be reached, is
 * TLOG_SEQUENCER_REFUSED carrying the sequencer's own code and message; the caller says what
 * was already done (the archive is pushed) and how to finish (push again).
 */
import { TlogError } from '../errors.js';
import type { AppendRequest, ConsistentRequest } from './requests.js';
import type { AppendReply, ConsistentReply } from './service.js';

/** The largest reply read: a checkpoint note and a proof are a few KiB. */
const MAX_REPLY_BYTES = 1024 * 1024;

export interface SequencerRefusal {
  status: number;
  code: string;
  message: string;
}

/** TLOG_SEQUENCER_REFUSED with the sequencer's reply, kept as `refusal` for callers that branch on it. */
export class SequencerRefusedError extends TlogError {
  constructor(
    readonly refusal: SequencerRefusal,
    message: string,
  ) {
    super('TLOG_SEQUENCER_REFUSED', message);
  }
}

/** The system error behind a failed fetch (ECONNREFUSED, ENOTFOUND, …), else its message. */
function reasonOf(e: unknown): string {
  const cause = (e as { cause?: { code?: string; errors?: Array<{ code?: string }>; message?: string } }).cause;
  return cause?.code ?? cause?.errors?.find((x) => x.code)?.code ?? cause?.message ?? (e as Error).message;
}

async function call<T>(base: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  let url: URL;
  try {
    url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new SequencerRefusedError(
      { status: 0, code: 'BAD_URL', message: base },
      `the sequencer URL ${JSON.stringify(base)} is not a URL`,
    );
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const why = reasonOf(e);
    throw new SequencerRefusedError(
      { status: 0, code: 'UNREACHABLE', message: why },
      `the sequencer at ${base} could not be reached (${why})`,
    );
  }
  const text = await res.text();
  let reply: unknown;
  try {
    if (text.length > MAX_REPLY_BYTES) throw new Error('too large');
    reply = JSON.parse(text);
  } catch {
    throw new SequencerRefusedError(
      { status: res.status, code: 'BAD_REPLY', message: text.slice(0, 200) },
      `the sequencer at ${base} answered HTTP ${res.status} with no JSON reply`,
    );
  }
  if (!res.ok) {
    const r = reply as { code?: unknown; message?: unknown };
    const refusal = { status: res.status, code: String(r?.code ?? 'UNKNOWN'), message: String(r?.message ?? '') };
    throw new SequencerRefusedError(refusal, `the sequencer at ${base} refused (HTTP ${res.status} ${refusal.code}): ${refusal.message}`);
  }
  return reply as T;
}

export function requestAppend(base: string, req: AppendRequest, timeoutMs = 120_000): Promise<AppendReply> {
  return call<AppendReply>(base, 'v1/append', req, timeoutMs);
}

export function requestConsistent(base: string, req: ConsistentRequest, timeoutMs = 60_000): Promise<ConsistentReply> {
  return call<ConsistentReply>(base, 'v1/consistent', req, timeoutMs);
}
