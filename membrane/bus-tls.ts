/**
 * The bus's encryption (issue 28, docs/security.md "Bus encryption"): what a NATS server's
 * certificate must name and the nats-server configuration that uses it. Clients (4222) must
 * speak TLS; client certificates are not asked for (a client is authenticated by its user
 * JWT). Routes (6222) are mutual TLS: a server joins the cluster only with a certificate the
 * Gantry CA signed, so a rogue server cannot route in and read every account's traffic.
 *
 * The files are in the shape cert-manager writes a Certificate's Secret (`tls.crt`,
 * `tls.key`, `ca.crt`), so an operator may issue them with cert-manager instead (bus-pki.ts
 * makes them with the openssl CLI). Pure functions: the openssl part is bus-pki.ts.
 */

/** The three files nats-server reads, in a directory laid out as a kubernetes.io/tls Secret with ca.crt. */
export interface BusTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** The file names a cert-manager Certificate's Secret holds. */
export const TLS_SECRET_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;

/** The files of a Secret mounted (or written) at `dir`. */
export function busTlsFiles(dir: string): BusTlsFiles {
  const d = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  return { certFile: `${d}/${TLS_SECRET_FILES.cert}`, keyFile: `${d}/${TLS_SECRET_FILES.key}`, caFile: `${d}/${TLS_SECRET_FILES.ca}` };
}

/**
 * The names a NATS server certificate of deploy/ must carry: each StatefulSet pod's stable
 * name (what the routes dial and what clients given the per-pod URLs meet), the client
 * Service's, and loopback (a port-forward, the sandbox).
 */
export function natsServerNames(namespace: string, replicas: number): string[] {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) throw new Error(`${namespace} is not a namespace name`);
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`a NATS cluster has at least one server, not ${replicas}`);
  const names: string[] = [];
  for (let i = 0; i < replicas; i++) names.push(`gantry-nats-${i}.gantry-nats-headless.${namespace}.svc`);
  names.push(`gantry-nats.${namespace}.svc`, 'localhost', '127.0.0.1');
  return names;
}

/** An openssl subjectAltName value: IP addresses as IP:, every other name as DNS:. */
export function subjectAltName(names: string[]): string {
  if (names.length === 0) throw new Error('a server certificate names at least one host');
  return names
    .map((n) => {
      if (!/^[A-Za-z0-9.:*-]+$/.test(n)) throw new Error(`${JSON.stringify(n)} is not a host name or IP address`);
      return /^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`;
    })
    .join(',');
}

/**
 * The X.509 v3 extensions of a NATS server certificate: usable as a TLS server (clients,
 * inbound routes) and as a TLS client (the routes it dials, which verify it).
 */
export function serverCertExtensions(names: string[]): string {
  return [
    `subjectAltName=${subjectAltName(names)}`,
    'extendedKeyUsage=serverAuth,clientAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'basicConstraints=critical,CA:FALSE',
    '',
  ].join('\n');
}

function tlsBlock(f: BusTlsFiles, indent: string, extra: string[]): string {
  const lines = [`cert_file: ${JSON.stringify(f.certFile)}`, `key_file: ${JSON.stringify(f.keyFile)}`];
  lines.push(`ca_file: ${JSON.stringify(f.caFile)}`, ...extra);
  return [`${indent}tls {`, ...lines.map((l) => `${indent}  ${l}`), `${indent}}`, ''].join('\n');
}

/**
 * The top-level `tls {}` block: every client connection must upgrade to TLS; client
 * certificates are not asked for. `timeoutSec` bounds the handshake (nats-server's default,
 * 0.5 s, is short for a loaded node).
 */
export function natsClientTlsConfig(f: BusTlsFiles, timeoutSec = 2): string {
  if (!(timeoutSec > 0)) throw new Error(`the TLS handshake timeout must be positive, not ${timeoutSec}`);
  return tlsBlock(f, '', [`timeout: ${timeoutSec}`]);
}

/**
 * The `tls {}` block inside `cluster {}`: routes are mutual TLS, each side verifying the
 * other's certificate against the Gantry CA (`verify: true`), so a server without a
 * CA-signed certificate can neither accept nor make a route.
 */
export function natsRouteTlsConfig(f: BusTlsFiles, timeoutSec = 2): string {
  if (!(timeoutSec > 0)) throw new Error(`the TLS handshake timeout must be positive, not ${timeoutSec}`);
  return tlsBlock(f, '  ', [`timeout: ${timeoutSec}`, 'verify: true']);
}
