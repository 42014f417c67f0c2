/**
 * The Gantry CA and the NATS servers' certificate, made with the `openssl` CLI (as
 * apiserver/tls.ts does: no crypto of our own). The CA's key signs server certificates and
 * stays with whoever runs `gantry membrane init` (or the sandbox's state dir): only the
 * server certificate and key go to the NATS pods, only the CA certificate (public) to clients.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BusTlsFiles, busTlsFiles, serverCertExtensions } from './bus-tls.js';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface BusCa {
  /** The CA certificate (public: every client's trust anchor). */
  certFile: string;
  /** The CA key (0600; never in the cluster). */
  keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (e) {
    const err = e as Error & { stderr?: string; code?: string };
    throw new Error(
      err.code === 'ENOENT'
        ? 'the openssl CLI is not on PATH (apt-get install openssl): it makes the bus certificates'
        : `openssl ${args[0]} failed: ${err.stderr?.trim() || err.message}`,
    );
  }
}

/** The CA in `dir` (ca.crt, ca.key): made if absent, kept if present (its clients trust it). */
export async function ensureBusCa(dir: string, days = 3650): Promise<BusCa> {
  const ca = { certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key') };
  if (existsSync(ca.certFile) && existsSync(ca.keyFile)) return ca;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    ca.keyFile,
    '-out',
    ca.certFile,
    '-days',
    String(days),
    '-subj',
    '/O=Gantry/CN=Gantry bus CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(ca.keyFile, 0o600);
  chmodSync(ca.certFile, 0o644);
  return ca;
}

/**
 * A NATS server certificate for `names` signed by `ca`, written into `outDir` as tls.crt,
 * tls.key (0600) and ca.crt. A fresh key each time: re-issuing is how the certificate is
 * rotated (nats-server reloads the files on SIGHUP, docs/operations.md).
 */
export async function issueNatsServerCert(ca: BusCa, outDir: string, names: string[], days = 825): Promise<BusTlsFiles> {
  const ext = serverCertExtensions(names); // checks the names before openssl runs
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const f = busTlsFiles(outDir);
  const work = join(outDir, '.issue');
  mkdirSync(work, { recursive: true, mode: 0o700 });
  try {
    const key = join(work, 'tls.key'),
      csr = join(work, 'tls.csr'),
      crt = join(work, 'tls.crt');
    writeFileSync(join(work, 'ext'), ext, { mode: 0o600 });
    await openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/O=Gantry/CN=${names[0]}`]);
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-set_serial',
      `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex')}`,
      '-out',
      crt,
      '-days',
      String(days),
      '-extfile',
      join(work, 'ext'),
    ]);
    // key and certificate are replaced together, each with one write, so a reload between
    // them is the only moment they disagree (nats-server then keeps the old pair)
    writeFileSync(f.keyFile, readFileSync(key), { mode: 0o600 });
    chmodSync(f.keyFile, 0o600);
    writeFileSync(f.certFile, readFileSync(crt), { mode: 0o644 });
    writeFileSync(f.caFile, readFileSync(ca.certFile), { mode: 0o644 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return f;
}
