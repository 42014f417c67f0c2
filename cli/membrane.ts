/**
 * The membrane's commands:
 *   gantry membrane init --out DIR      keys, the nats-server config fragment and the
 *                                       Secret/ConfigMap manifests for deploy/ (docs/operations.md);
 *                                       the bus's CA and the NATS servers' TLS certificate
 *   gantry membrane admin-creds [--keys DIR] -o FILE
 *                                       fresh admin .creds (they expire with the JWT lifetime)
 *   gantry grant creds NAME [-n NS] --nkey SEEDFILE -o FILE
 *                                       a CapabilityGrant's user JWT + the grantee's own seed
 *                                       → a standard NATS .creds file
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { grantTarget, type CapabilityGrant } from '../api/index.js';
import {
  adminPermissions,
  decodeJwt,
  ensureBusCa,
  formatCreds,
  issueNatsServerCert,
  KEY_FILES,
  MembraneAuthority,
  natsServerNames,
  subjectAltName,
} from '../membrane/index.js';
import { busTlsObjects, KEYS_NS, membraneKeysSecret, natsMembraneConfigMap, SYSTEM_NS } from './membrane-objects.js';
import { publicKeyFromSeed } from '../par/index.js';
import { defaultStateDir } from '../sandbox/index.js';
import { cliError, readSeedFile } from './keys.js';
import { collect } from './options.js';

export function registerMembrane(program: Command): void {
  const membrane = program.command('membrane').description('the membrane: NATS operator-mode keys and credentials');
  registerInit(membrane);
  registerAdminCreds(membrane);
  const grant = program.command('grant').description("CapabilityGrants: a caller's credentials");
  registerGrantCreds(grant);
}

function registerInit(membrane: Command): void {
  membrane
    .command('init')
    .description('generate the membrane keys, the nats-server config fragment and the Secret/ConfigMap manifests (docs/operations.md)')
    .requiredOption('--out <dir>', 'directory to write into (created; must not hold keys already)')
    .option('--resolver-dir <dir>', 'where nats-server keeps pushed account JWTs (its volume)', '/data/jwt')
    .option('--namespace <ns>', 'the Gantry namespace (NATS: its config and TLS Secret, the CA ConfigMap)', SYSTEM_NS)
    .option('--keys-namespace <ns>', "the membrane keys Secret's namespace: only the controller may read it", KEYS_NS)
    .option('--nats-replicas <n>', "the NATS StatefulSet's replicas: its pods' names go in the server certificate", '3')
    .option('--nats-name <host>', 'another name (DNS or IP) the NATS server certificate carries; repeatable', collect, [] as string[])
    .action(async (o) => {
      const names = busNames(o.namespace, o.natsReplicas, o.natsName); // bad flags fail before anything is written
      if (existsSync(join(o.out, 'keys', KEY_FILES.operator)))
        throw cliError(`${o.out}/keys already holds membrane keys; refusing to replace them (every credential is signed with them)`, 1);
      const a = MembraneAuthority.generate();
      a.save(join(o.out, 'keys'));
      const conf = a.serverConfig(o.resolverDir);
      writeFileSync(join(o.out, 'membrane.conf'), conf, { mode: 0o644 });
      const secret = membraneKeysSecret(a.seeds(), o.keysNamespace);
      const configMap = natsMembraneConfigMap(conf, o.namespace);
      writeFileSync(join(o.out, 'gantry-membrane-keys.secret.yaml'), stringify(secret), { mode: 0o600 });
      writeFileSync(join(o.out, 'gantry-nats-membrane.configmap.yaml'), stringify(configMap));
      writeFileSync(join(o.out, 'admin.creds'), a.mintUser('admin', adminPermissions).creds!, { mode: 0o600 });
      await writeBusTls(o.out, o.namespace, names);
      process.stdout.write(
        [
          `operator ${a.operatorKey}`,
          `gantry account ${a.accountKey}`,
          `wrote ${o.out}/keys/ (0600), membrane.conf, gantry-membrane-keys.secret.yaml (0600), gantry-nats-membrane.configmap.yaml, admin.creds (0600: may call anything, as any caller)`,
          `wrote ${o.out}/ca/ (the bus CA; its key ca.key never goes to the cluster), nats-tls/ (tls.crt, tls.key, ca.crt), gantry-nats-tls.secret.yaml (0600), gantry-nats-ca.configmap.yaml`,
          `next: kubectl apply -f ${o.out}/gantry-membrane-keys.secret.yaml -f ${o.out}/gantry-nats-membrane.configmap.yaml -f ${o.out}/gantry-nats-tls.secret.yaml -f ${o.out}/gantry-nats-ca.configmap.yaml, then the deploy/ base`,
          '',
        ].join('\n'),
      );
    });
}

/** The names of the NATS server certificate; exit 2 naming the flag when one is not a name. */
export function busNames(namespace: string, replicasFlag: string, extraNames: string[], command = 'membrane init'): string[] {
  const replicas = Number(replicasFlag);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 99)
    throw cliError(`${command}: --nats-replicas must be a whole number from 1 to 99, not "${replicasFlag}"`, 2);
  try {
    const names = [...natsServerNames(namespace, replicas), ...extraNames];
    subjectAltName(names);
    return names;
  } catch (e) {
    throw cliError(`${command}: ${(e as Error).message}`, 2);
  }
}

/**
 * The bus's TLS (membrane/bus-tls.ts): the Gantry CA in OUT/ca/ (kept off the cluster), the
 * NATS servers' certificate in OUT/nats-tls/, a kubernetes.io/tls Secret of it with ca.crt
 * (the shape of a cert-manager Certificate's Secret, which may replace it) for the NATS pods,
 * and a ConfigMap of the CA certificate alone for the controller and agents.
 */
async function writeBusTls(out: string, namespace: string, names: string[]): Promise<void> {
  try {
    const ca = await ensureBusCa(join(out, 'ca'));
    await issueNatsServerCert(ca, join(out, 'nats-tls'), names);
  } catch (e) {
    throw cliError(`membrane init: ${(e as Error).message}`, 2);
  }
  const { secret, caMap } = busTlsObjects(join(out, 'nats-tls'), namespace);
  writeFileSync(join(out, 'gantry-nats-tls.secret.yaml'), stringify(secret), { mode: 0o600 });
  writeFileSync(join(out, 'gantry-nats-ca.configmap.yaml'), stringify(caMap));
}

/** When these creds stop working (the JWT's exp): fetch fresh ones before. */
function credsEnd(jwt: string): string {
  const exp = decodeJwt(jwt).exp;
  return exp === undefined ? '' : `; these creds expire at ${new Date(exp * 1000).toISOString()} — run this again before then`;
}

/**
 * Admin creds expire like every gantry-account JWT (maxJwtLifetimeSec, 24 h): this renews them
 * from the keys (the sandbox also writes fresh ones each time it starts).
 */
function registerAdminCreds(membrane: Command): void {
  membrane
    .command('admin-creds')
    .description('write fresh admin .creds (may call anything, as any caller; valid 24 h) signed with the membrane keys')
    .option('--keys <dir>', "the membrane's key directory (default: the local sandbox's DIR/membrane)")
    .requiredOption('-o, --out <file>', 'the .creds file to write (mode 0600)')
    .action((o) => {
      const keys = o.keys ?? join(process.env.GANTRY_SANDBOX_DIR ?? defaultStateDir(), 'membrane');
      let a: MembraneAuthority;
      try {
        a = MembraneAuthority.load(keys);
      } catch (err) {
        throw cliError(`membrane admin-creds: ${(err as Error).message}`, 1);
      }
      const u = a.mintUser('admin', adminPermissions);
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileSync(o.out, u.creds!, { mode: 0o600 });
      const exp = decodeJwt(u.jwt).exp!;
      process.stdout.write(`wrote ${o.out} (0600): admin creds valid until ${new Date(exp * 1000).toISOString()}\n`);
    });
}

function registerGrantCreds(grant: Command): void {
  grant
    .command('creds')
    .description(
      "write a standard NATS .creds file from a Ready CapabilityGrant and the grantee's own seed; the creds expire (the controller's --grant-jwt-lifetime, default 24h, renewed with a third left): run it again before then",
    )
    .argument('<name>', 'the CapabilityGrant')
    .option('-n, --namespace <ns>', 'its namespace', 'default')
    .requiredOption('--nkey <seedfile>', "the grantee's user seed (SU…; `gantry keys generate --type user`)")
    .requiredOption('-o, --out <file>', 'the .creds file to write (mode 0600)')
    .option('--kubeconfig <file>', "kubeconfig (default: $KUBECONFIG, else the running local sandbox's)")
    .action(async (name: string, o) => {
      const seed = readSeedFile(o.nkey);
      if (!seed.startsWith('SU')) throw cliError(`${o.nkey}: not a user seed (SU…); make one with \`gantry keys generate --type user\``, 2);
      const { KubeClient, loadKubeConfig, isNotFound } = await import('../runtime/kube.js');
      const sandboxKubeconfig = join(process.env.GANTRY_SANDBOX_DIR ?? defaultStateDir(), 'kubeconfig');
      const kubeconfigPath = o.kubeconfig ?? (process.env.KUBECONFIG || (existsSync(sandboxKubeconfig) ? sandboxKubeconfig : undefined));
      const kube = new KubeClient(loadKubeConfig({ kubeconfigPath }));
      let g: CapabilityGrant;
      try {
        g = await kube.get(
          `/apis/gantry.dev/v1alpha1/namespaces/${encodeURIComponent(o.namespace)}/capabilitygrants/${encodeURIComponent(name)}`,
        );
      } catch (err) {
        if (isNotFound(err)) throw cliError(`grant creds: no CapabilityGrant ${o.namespace}/${name}`, 1);
        throw cliError(`grant creds: cannot read CapabilityGrant ${o.namespace}/${name}: ${(err as Error).message}`, 1);
      } finally {
        kube.close();
      }
      const ready = g.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True' || !g.status?.userJwt) {
        throw cliError(
          `grant creds: CapabilityGrant ${o.namespace}/${name} is not issued (Ready ${ready?.status ?? 'unknown'}${ready?.reason ? `, ${ready.reason}: ${ready.message ?? ''}` : ''})`,
          1,
        );
      }
      const key = publicKeyFromSeed(seed);
      if (decodeJwt(g.status.userJwt).sub !== key || g.spec.grantee.nkey !== key) {
        throw cliError(`grant creds: ${o.nkey} is the seed of ${key}, but the grant is for ${g.spec.grantee.nkey}`, 1);
      }
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileSync(o.out, formatCreds(g.status.userJwt, seed), { mode: 0o600 });
      process.stdout.write(
        `wrote ${o.out}: ${key} may call ${grantTarget(g.spec)} (${g.spec.operations.join(', ')})${g.status.expires ? ` until ${g.status.expires}` : ''}` +
          `${credsEnd(g.status.userJwt)}\n`,
      );
    });
}
