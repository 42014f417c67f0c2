/**
 * The dashboard server's guards, kept apart so the mutation tests cover them whole:
 *
 * - Host: a page on another site could make a browser resolve its own name to 127.0.0.1 (DNS
 *   rebinding) and read the dashboard as same-origin. Such a request carries the other site's
 *   name in `Host`, so only loopback names, IP literals (no DNS, so nothing to rebind) and the
 *   names given with --allowed-host pass.
 * - Methods: the dashboard is read-only; anything but GET and HEAD is 405.
 * - Headers: a CSP without inline script, no sniffing, no referrer, no framing, and no CORS
 *   header at all (another origin's script cannot read a reply).
 */
import { isIP } from 'node:net';

/** The host name of a Host header (`name:port`, `[v6]:port`), lower-cased; undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    const rest = h.slice(end + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([a-z0-9.-]+)(:\d{1,5})?$/.exec(h);
  return m?.[1];
}

/** Whether a request with this Host header may be answered (see the file's comment). */
export function hostAllowed(header: string | undefined, allowedNames: readonly string[]): boolean {
  const name = hostName(header);
  if (!name) return false;
  // loopback IPs are IP literals too
  if (name === 'localhost' || isIP(name) !== 0) return true;
  return allowedNames.some((a) => a.toLowerCase() === name);
}

export const READ_METHODS = ['GET', 'HEAD'];

export function methodAllowed(method: string | undefined): boolean {
  return READ_METHODS.includes(String(method));
}

/** Headers on every reply. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

/** True for an address only this machine can reach. */
export function isLoopbackAddress(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
