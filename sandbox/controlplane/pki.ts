/**
 * The control plane's keys and tokens, made once in DIR/pki and reused (a restarted plane keeps
 * its identity and tokens): the serving CA and certificate, the service-account signing key,
 * and the static tokens of the admin and kube-scheduler.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTls } from '../../apiserver/index.js';

/** Files kube-apiserver needs, made once in DIR/pki and reused (a restarted plane keeps its identity and tokens). */
export interface ControlPlanePki {
  dir: string;
  caPem: string;
  /** The admin's bearer token (group system:masters). */
  token: string;
  /** kube-scheduler's token (user system:kube-scheduler, bound by the built-in RBAC). */
  schedulerToken: string;
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
  const [admin, scheduler] = readFileSync(tokens, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',')[0]);
  return { dir: pki, caPem: tls.caPem, token: admin, schedulerToken: scheduler };
}
