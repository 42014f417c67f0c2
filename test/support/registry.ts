/**
 * Start a real OCI registry (Debian `docker-registry`, distribution 2.8) on a free loopback
 * port with a temporary storage dir. Optional htpasswd basic auth or bearer-token auth
 * (the token server is the test's own; pass its realm, issuer, service and cert bundle).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { requireBinary } from './binaries.js';

export interface RegistryServer {
  /** host:port, as used in refs: `${host}/repo` */
  host: string;
  url: string;
  storageDir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  basicAuth?: { user: string; password: string };
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** serve HTTPS with this certificate and key (PEM files) */
  tls?: { certificate: string; key: string };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryServer> {
  const bin = requireBinary('docker-registry', 'docker-registry');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gantry-registry-'));
  const storageDir = join(dir, 'storage');
  let auth = '';
  if (opts.basicAuth) {
    const htpasswd = join(dir, 'htpasswd');
    const hash = execFileSync(requireBinary('htpasswd', 'apache2-utils'), ['-nbB', opts.basicAuth.user, opts.basicAuth.password])
      .toString()
      .trim();
    writeFileSync(htpasswd, hash + '\n');
    auth = `auth:\n  htpasswd:\n    realm: gantry-test\n    path: ${htpasswd}\n`;
  } else if (opts.token) {
    auth = `auth:\n  token:\n    realm: ${opts.token.realm}\n    service: ${opts.token.service}\n    issuer: ${opts.token.issuer}\n    rootcertbundle: ${opts.token.rootCertBundle}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n` +
      (opts.tls ? `  tls:\n    certificate: ${opts.tls.certificate}\n    key: ${opts.tls.key}\n` : '') +
      auth,
  );
  const proc = spawn(bin, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  try {
    await waitForPort(port);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`docker-registry did not start: ${(e as Error).message}\n${stderr}`);
  }
  return {
    host: `127.0.0.1:${port}`,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    storageDir,
    proc,
    async stop() {
      // a process ended by a signal keeps exitCode null: waiting for its exit would never end
      if (proc.exitCode === null && proc.signalCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A self-signed certificate for 127.0.0.1 (EC P-256), made with openssl in a temp dir. */
export function selfSignedCert(commonName = '127.0.0.1'): { dir: string; certificate: string; key: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-cert-'));
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    requireBinary('openssl', 'openssl'),
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-keyout',
      key,
      '-out',
      certificate,
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { dir, certificate, key, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TokenServer {
  /** the realm URL the registry sends clients to */
  realm: string;
  /** host:port of the token server (plain HTTP on loopback) */
  host: string;
  service: string;
  issuer: string;
  /** PEM bundle the registry verifies tokens with */
  rootCertBundle: string;
  /** token requests answered (granted or refused) */
  requests: number;
  stop(): Promise<void>;
}

/**
 * A bearer-token server for distribution's `auth: token`: checks basic credentials (GET) or a
 * refresh token `refresh-<user>` (POST, OAuth2 grant), grants the
 * scopes asked for, signs ES256 JWTs whose x5c header carries the self-signed certificate the
 * registry was given as its root bundle.
 */
export async function startTokenServer(users: Record<string, string>): Promise<TokenServer> {
  const { createServer } = await import('node:http');
  const { SignJWT, importPKCS8 } = await import('jose');
  const { readFileSync } = await import('node:fs');
  const { randomUUID } = await import('node:crypto');
  const cert = selfSignedCert('gantry-test-token-issuer');
  const key = await importPKCS8(readFileSync(cert.key, 'utf8'), 'ES256');
  const der = readFileSync(cert.certificate, 'utf8')
    .replace(/-----[^-]+-----/g, '')
    .replace(/\s+/g, '');
  const service = 'gantry-test-registry';
  const issuer = 'gantry-test-token-issuer';
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    void (async () => {
      state.requests++;
      const url = new URL(req.url ?? '/', 'http://x');
      let user = '';
      if (req.method === 'POST') {
        // OAuth2 refresh-token grant (docker's identity token): refresh tokens are `refresh-<user>`
        let body = '';
        for await (const chunk of req) body += chunk;
        const form = new URLSearchParams(body);
        const refresh = form.get('refresh_token') ?? '';
        if (form.get('grant_type') === 'refresh_token' && refresh.startsWith('refresh-') && refresh.slice(8) in users)
          user = refresh.slice(8);
        for (const k of ['scope', 'service']) for (const v of form.getAll(k)) url.searchParams.append(k, v);
      } else {
        const auth = req.headers.authorization ?? '';
        const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
        const colon = decoded.indexOf(':');
        const name = colon > 0 ? decoded.slice(0, colon) : '';
        if (name && users[name] === decoded.slice(colon + 1)) user = name;
      }
      if (!user) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      const access = url.searchParams.getAll('scope').flatMap((scope) => {
        const [type, name, actions] = scope.split(':');
        return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: [der] })
        .setIssuer(issuer)
        .setSubject(user)
        .setAudience(url.searchParams.get('service') ?? service)
        .setIssuedAt(now)
        .setNotBefore(now - 5)
        .setExpirationTime(now + 300)
        .setJti(randomUUID())
        .sign(key);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
    })().catch((e) => res.writeHead(500).end(String(e)));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    realm: `http://127.0.0.1:${port}/token`,
    host: `127.0.0.1:${port}`,
    service,
    issuer,
    rootCertBundle: cert.certificate,
    get requests() {
      return state.requests;
    },
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      cert.cleanup();
    },
  };
}
