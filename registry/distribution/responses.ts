/**
 * Reading a registry's answers: a body read to its end but never past a bound, a body
 * discarded, and the registry's error JSON as a short string for messages.
 */
import { RegistryError } from '../errors.js';

/** The largest manifest read. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * A response body read to its end but never past `max` bytes: a Content-Length over it is
 * refused before reading, and a body that runs past it is cut off (BLOB_OVERRUN).
 */
export async function readBounded(res: Response, max: number, what: string, sent: { abort(reason?: unknown): void }): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    sent.abort();
    throw new RegistryError('BLOB_OVERRUN', `${what} is ${declared} bytes, over the ${max}-byte limit; not read`);
  }
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    received += chunk.length;
    if (received > max) {
      sent.abort();
      throw new RegistryError('BLOB_OVERRUN', `${what} runs past the ${max}-byte limit; cut off`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* already consumed or closed */
  }
}

/** Registry error JSON (`{"errors":[{"code","message"}]}`) as a short string, for messages. */
export async function describeFailure(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    if (parsed.errors?.length) return parsed.errors.map((x) => `${x.code ?? ''}${x.message ? ': ' + x.message : ''}`).join('; ');
  } catch {
    /* not JSON */
  }
  return text.slice(0, 200) || res.statusText;
}
