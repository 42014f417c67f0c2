/**
 * Authentication of a request to the external metrics API, as kube-aggregator's extension
 * servers do it (requestheader authentication): the TLS client certificate must chain to the
 * requestheader client CA and, when allowed names are configured, carry one of them as its CN;
 * only then is the user taken from X-Remote-User. A request without such a certificate is
 * refused whatever its headers say — anyone can write a header, only the aggregator holds the
 * key. Authorization is the kube-apiserver's: it has already checked the user's RBAC for
 * external.metrics.k8s.io before proxying.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RequestHeaderConfig } from './request-header.js';

export interface Caller {
  user: string;
  groups: string[];
}

export type Authentication =
  | { ok: true; proxy: string; caller?: Caller }
  | { ok: false; reason: 'NoClientCertificate' | 'UntrustedClientCertificate' | 'ProxyNameNotAllowed'; message: string };

function header(headers: IncomingHttpHeaders, name: string): string[] {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((s) => s !== '');
}

/** Whether the peer is the aggregator, and (when it says) on behalf of whom. */
export function authenticate(socket: TLSSocket, headers: IncomingHttpHeaders, cfg: RequestHeaderConfig): Authentication {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0)
    return {
      ok: false,
      reason: 'NoClientCertificate',
      message: 'no client certificate: only the Kubernetes API aggregator (its requestheader client certificate) may call this server',
    };
  if (!socket.authorized)
    return {
      ok: false,
      reason: 'UntrustedClientCertificate',
      message: `client certificate ${JSON.stringify(cert.subject?.CN ?? '')} does not verify against the requestheader client CA (${String(socket.authorizationError)})`,
    };
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : '';
  if (cfg.allowedNames.length > 0 && !cfg.allowedNames.includes(cn))
    return {
      ok: false,
      reason: 'ProxyNameNotAllowed',
      message: `client certificate CN ${JSON.stringify(cn)} is not in requestheader-allowed-names (${cfg.allowedNames.join(', ')})`,
    };
  const user = cfg.usernameHeaders.map((h) => header(headers, h)[0]).find((u) => u !== undefined);
  if (user === undefined) return { ok: true, proxy: cn };
  return { ok: true, proxy: cn, caller: { user, groups: cfg.groupHeaders.flatMap((h) => header(headers, h)) } };
}
