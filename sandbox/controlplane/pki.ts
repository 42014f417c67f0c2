/**
 * The control plane's keys and tokens, made once in DIR/pki and reused (a restarted plane keeps
 * its identity and tokens): the serving CA and certificate, the service-account signing key,
 * the static tokens of the admin, kube-scheduler and kube-controller-manager, and (for the
 * aggregation layer) the front-proxy CA and client certificate.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTls } from '../../apiserver/index.js';
import { type CertFiles, ensureCa, ensureLeaf } from './certs.js';

/** Files kube-apiserver needs, made once in DIR/pki and reused (a restarted plane keeps its identity and tokens). */
export interface ControlPlanePki {
  dir: string;
  caPem: string;
  /** The admin's bearer token (group system:masters). */
  token: string;
  /** kube-scheduler's token (user system:kube-scheduler, bound by the built-in RBAC). */
  schedulerToken: string;
  /** kube-controller-manager's token (user system:kube-controller-manager, bound by the built-in RBAC). */
  controllerManagerToken: string;
}

export async function preparePki(stateDir: string): Promise<ControlPlanePki> {
  const pki = join(stateDir, 'pki');
  mkdirSync(pki, { recursive: true });
  const tls = await ensureTls(pki, '127.0.0.1');
  if (!existsSync(join(pki, 'sa.key'))) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const tokens = join(pki, 'tokens.csv');
  if (!existsSync(tokens)) {
    // token,user,uid,"groups"
    writeFileSync(
      tokens,
      `${randomBytes(24).toString('hex')},gantry-admin,gantry-admin,"system:masters"
${randomBytes(24).toString('hex')},system:kube-scheduler,system:kube-scheduler
`,
      { mode: 0o600 },
    );
  }
  // added to a token file made before kube-controller-manager could be started
  if (!readFileSync(tokens, 'utf8').includes(',system:kube-controller-manager,'))
    appendFileSync(tokens, `${randomBytes(24).toString('hex')},system:kube-controller-manager,system:kube-controller-manager\n`);
  const [admin, scheduler, controllerManager] = readFileSync(tokens, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',')[0]);
  return { dir: pki, caPem: tls.caPem, token: admin, schedulerToken: scheduler, controllerManagerToken: controllerManager };
}

/** The aggregation layer's front-proxy CA and the client certificate kube-apiserver proxies with (CN front-proxy-client). */
export async function prepareFrontProxy(pkiDir: string): Promise<{ ca: CertFiles; client: CertFiles }> {
  const ca = await ensureCa(pkiDir, 'front-proxy-ca', 'front-proxy-ca');
  const client = await ensureLeaf(pkiDir, 'front-proxy-client', ca, { cn: FRONT_PROXY_CLIENT, usage: 'clientAuth' });
  return { ca, client };
}

export const FRONT_PROXY_CLIENT = 'front-proxy-client';
