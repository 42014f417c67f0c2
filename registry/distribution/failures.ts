/**
 * How an exchange with a registry fails: a network error as the RegistryError a user can act
 * on (plain HTTP spoken to a TLS port, a certificate not trusted, a timeout, no route), which
 * failures are worth another try, and the jittered wait before it.
 */
import { RegistryError } from '../errors.js';

/** The RegistryError `e` (from fetch or node:http) means; an abort with a RegistryError reason keeps it. */
export function networkError(e: unknown, method: string, url: string, signal?: AbortSignal): RegistryError {
  if (e instanceof RegistryError) return e;
  if (signal?.aborted && signal.reason instanceof RegistryError) return signal.reason;
  const err = e as Error & { cause?: Error & { code?: string } };
  const cause = err.cause;
  const code = cause?.code ?? (err as { code?: string }).code ?? '';
  const text = `${err.message} ${cause?.message ?? ''} ${code}`;
  const host = new URL(url).host;
  if (/wrong version number|WRONG_VERSION_NUMBER|packet length too long|PACKET_LENGTH_TOO_LONG/i.test(text)) {
    return new RegistryError(
      'PLAIN_HTTP_REFUSED',
      `${host} does not speak HTTPS; if it is a plain-HTTP registry, allow it explicitly (--plain-http / --plain-http-registry ${host})`,
      { cause: e },
    );
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(text)) {
    return new RegistryError(
      'UNREACHABLE',
      `TLS to ${host} failed: ${cause?.message ?? err.message}; give the registry's CA with caFile (--ca-file)`,
      { cause: e },
    );
  }
  if (err.name === 'TimeoutError' || err.name === 'AbortError')
    return new RegistryError('TIMEOUT', `${method} ${url} timed out`, { cause: e });
  return new RegistryError('UNREACHABLE', `cannot reach ${host} (${method} ${new URL(url).pathname}): ${cause?.message ?? err.message}`, {
    cause: e,
  });
}

export function isRetryable(e: unknown): boolean {
  return e instanceof RegistryError && (e.code === 'UNREACHABLE' || e.code === 'TIMEOUT');
}

export function backoff(attempt: number): Promise<void> {
  const ms = Math.min(2000, 100 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  return new Promise((r) => setTimeout(r, ms));
}
