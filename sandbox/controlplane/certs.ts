/**
 * Small certificate authorities made with the `openssl` CLI (as apiserver/tls.ts does: no
 * hand-rolled crypto): the aggregation layer's front-proxy CA and its client certificate, the
 * external metrics API's serving CA and certificate, and, in tests, a stranger's CA. Files are
 * kept in the directory given and reused when present; keys are 0600.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface CertFiles {
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
}

/** A self-signed CA named NAME (NAME.crt, NAME.key in dir). */
export async function ensureCa(dir: string, name: string, cn: string): Promise<CertFiles> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(cert) || !existsSync(key)) {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '3650',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(key, 0o600);
  }
  return { cert, key, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

export interface LeafOptions {
  cn: string;
  /** serverAuth certificates name their hosts: IP addresses and DNS names. */
  usage: 'serverAuth' | 'clientAuth';
  ips?: string[];
  dns?: string[];
}

/** A certificate NAME.crt/NAME.key in dir, signed by ca. */
export async function ensureLeaf(dir: string, name: string, ca: CertFiles, o: LeafOptions): Promise<CertFiles> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(cert) || !existsSync(key)) {
    const csr = join(dir, `${name}.csr`);
    const ext = join(dir, `${name}.ext`);
    await run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${o.cn}`]);
    const sans = [...(o.ips ?? []).map((i) => `IP:${i}`), ...(o.dns ?? []).map((d) => `DNS:${d}`)];
    writeFileSync(
      ext,
      [
        ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
        `extendedKeyUsage=${o.usage}`,
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'basicConstraints=CA:FALSE',
        '',
      ].join('\n'),
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '3650',
      '-extfile',
      ext,
    ]);
    chmodSync(key, 0o600);
  }
  return { cert, key, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}
