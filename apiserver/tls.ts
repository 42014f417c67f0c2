/**
 * The emulator's TLS identity: a CA and a server certificate for 127.0.0.1/localhost, made
 * with the `openssl` CLI (no hand-rolled crypto) and kept in the state directory so a
 * restarted emulator still matches the kubeconfig clients already hold. The key files are 0600
 * like the rest of the state dir (statedir.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makePrivate } from './statedir.js';

const run = promisify(execFile);

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export async function ensureTls(dir: string, host: string): Promise<TlsMaterial> {
  const ca = join(dir, 'ca.crt'),
    caKey = join(dir, 'ca.key'),
    crt = join(dir, 'server.crt'),
    key = join(dir, 'server.key');
  if (![ca, caKey, crt, key].every((f) => existsSync(f))) {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      caKey,
      '-out',
      ca,
      '-days',
      '3650',
      '-subj',
      '/CN=gantry-sandbox-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const csr = join(dir, 'server.csr'),
      ext = join(dir, 'server.ext');
    await run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=gantry-apiserver']);
    const sans = ['IP:127.0.0.1', 'DNS:localhost', 'IP:::1'];
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') sans.push(/^[\d.:]+$/.test(host) ? `IP:${host}` : `DNS:${host}`);
    writeFileSync(
      ext,
      `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`,
      { mode: 0o600 },
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      crt,
      '-days',
      '3650',
      '-extfile',
      ext,
    ]);
    // openssl creates its outputs with the umask's mode; the state dir keeps everything 0600.
    for (const f of [ca, caKey, crt, key, csr, ext, join(dir, 'ca.srl')]) if (existsSync(f)) makePrivate(f);
  }
  return { caPem: readFileSync(ca, 'utf8'), certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}
