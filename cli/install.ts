/**
 * gantry install: creates once, through the API, what deploy/base (or the Helm chart) needs
 * before its pods can start: the namespaces, the membrane's keys and NATS config, the bus's
 * TLS, and the trust policy. Every object is made with create, so nothing is ever overwritten:
 * what exists is kept (and said so), a re-run writes nothing, and a half state that cannot be
 * right stops it before any write (install-plan.ts). The bus CA's key and the first admin
 * .creds stay in --dir; the keys stay only in the cluster, backed up with kubectl.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { adminPermissions, ensureBusCa, issueNatsServerCert, MembraneAuthority } from '../membrane/index.js';
import { packageRoot } from '../runtime/paths.js';
import { cliError } from './keys.js';
import { busNames } from './membrane.js';
import {
  busTlsObjects,
  KEYS_NS,
  KEYS_SECRET,
  MEMBRANE_CONFIGMAP,
  membraneKeysSecret,
  NATS_CA_CONFIGMAP,
  NATS_TLS_SECRET,
  natsMembraneConfigMap,
  SYSTEM_NS,
  TRUST_CONFIGMAP,
  trustConfigMap,
} from './membrane-objects.js';
import { type ClusterState, planBus, planMembrane, seedsOf } from './install-plan.js';
import { collect } from './options.js';

interface InstallFlags {
  kubeconfig?: string;
  dir: string;
  natsReplicas: string;
  natsName: string[];
  resolverDir: string;
  trustIssuer: string[];
  plainHttpRegistry: string[];
  membraneKeys?: string;
  dryRun?: boolean;
  trustPolicy: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects of several kinds
type Obj = any;

export function registerInstall(program: Command): void {
  program
    .command('install')
    .description(
      'create once what deploy/base or the Helm chart needs before it starts (namespaces, the membrane keys and NATS config, the bus TLS, the trust policy); never overwrites; prints what to keep (docs/operations.md)',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, else ~/.kube/config)')
    .option(
      '--dir <dir>',
      'where the bus CA (ca/ca.key never goes to the cluster) and the first admin.creds are kept (0700)',
      'gantry-install',
    )
    .option(
      '--trust-issuer <key>',
      'account key (A…) whose signed archives may run, when gantry-trust is made; repeatable',
      collect,
      [] as string[],
    )
    .option(
      '--plain-http-registry <host:port>',
      'registry reached over plain HTTP, when gantry-trust is made; repeatable',
      collect,
      [] as string[],
    )
    .option(
      '--membrane-keys <file>',
      'restore the keys from this backup of the Secret (kubectl get secret -o yaml) instead of making new ones',
    )
    .option('--nats-replicas <n>', "the NATS StatefulSet's replicas: its pods' names go in the server certificate", '3')
    .option('--nats-name <host>', 'another name (DNS or IP) the NATS server certificate carries; repeatable', collect, [] as string[])
    .option('--resolver-dir <dir>', 'where nats-server keeps pushed account JWTs (its volume)', '/data/jwt')
    .option('--no-trust-policy', 'leave gantry-trust alone (a Helm chart that renders it owns it)')
    .option('--dry-run', 'print the objects that would be created (Secret values withheld) and write nothing')
    .action((o: InstallFlags) => install(o));
}

function checkFlags(o: InstallFlags): { names: string[]; restored?: ReturnType<typeof seedsOf> } {
  for (const k of o.trustIssuer)
    if (!/^A[A-Z2-7]{55}$/.test(k)) throw cliError(`install: --trust-issuer ${k}: not an account public key (A… 56 characters)`, 2);
  for (const h of o.plainHttpRegistry)
    if (!/^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$/.test(h))
      throw cliError(`install: --plain-http-registry ${h}: expected HOST:PORT`, 2);
  const names = busNames(SYSTEM_NS, o.natsReplicas, o.natsName, 'install');
  if (!o.membraneKeys) return { names };
  let doc: Obj;
  try {
    doc = parse(readFileSync(o.membraneKeys, 'utf8'));
  } catch (e) {
    throw cliError(`install: --membrane-keys ${o.membraneKeys}: ${(e as Error).message}`, 2);
  }
  if (doc?.kind !== 'Secret')
    throw cliError(`install: --membrane-keys ${o.membraneKeys}: not a Secret (kind ${doc?.kind ?? 'missing'})`, 2);
  try {
    return { names, restored: seedsOf(doc, `--membrane-keys ${o.membraneKeys}`) };
  } catch (e) {
    throw cliError((e as Error).message.replace(/; gantry install changed nothing$/, ''), 2);
  }
}

const collection = (ns: string | undefined, plural: string) => (ns ? `/api/v1/namespaces/${ns}/${plural}` : `/api/v1/${plural}`);
const pathOf = (o: Obj) =>
  collection(o.metadata.namespace, o.kind === 'Secret' ? 'secrets' : o.kind === 'ConfigMap' ? 'configmaps' : 'namespaces');
const label = (o: Obj) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** deploy/base's namespaces, as the base defines them (its Pod Security labels included). */
function baseNamespaces(): Obj[] {
  const text = readFileSync(join(packageRoot(), 'deploy', 'base', 'namespace.yaml'), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJSON());
}

type Kube = InstanceType<typeof import('../runtime/kube.js').KubeClient>;

async function install(o: InstallFlags): Promise<void> {
  const { names, restored } = checkFlags(o); // bad flags fail before the cluster is asked anything
  const { KubeClient, loadKubeConfig } = await import('../runtime/kube.js');
  const kube = new KubeClient(loadKubeConfig({ kubeconfigPath: o.kubeconfig }));
  const dir = resolve(o.dir);
  const work = o.dryRun ? mkdtempSync(join(tmpdir(), 'gantry-install-')) : dir;
  try {
    const found = await readCluster(kube);
    const caCrt = join(dir, 'ca', 'ca.crt');
    if (existsSync(caCrt) !== existsSync(join(dir, 'ca', 'ca.key')))
      throw cliError(
        `install: ${join(dir, 'ca')} holds only one of ca.crt and ca.key; restore the other (a new CA would not be the one clients trust)`,
        1,
      );
    const membrane = planMembrane(found.state, restored, `--membrane-keys ${o.membraneKeys}`);
    const bus = planBus(found.state, existsSync(caCrt) ? readFileSync(caCrt, 'utf8') : undefined);

    // everything below only makes what the plans found absent
    const make: Obj[] = found.namespaces.filter((ns) => !found.present.has(label(ns)));
    let authority: MembraneAuthority | undefined;
    if (membrane.make !== 'nothing') {
      authority = membrane.seeds ? MembraneAuthority.fromSeeds(membrane.seeds) : MembraneAuthority.generate();
      make.push(membraneKeysSecret(authority.seeds()));
      if (membrane.make === 'both') make.push(natsMembraneConfigMap(authority.serverConfig(o.resolverDir)));
    }
    if (bus.make !== 'nothing') {
      if (!o.dryRun) mkdirSync(dir, { recursive: true, mode: 0o700 });
      const ca = await ensureBusCa(join(bus.make === 'both' && !existsSync(caCrt) ? work : dir, 'ca'));
      const tlsDir = join(work, '.nats-tls');
      try {
        await issueNatsServerCert(ca, tlsDir, names);
        const { secret, caMap } = busTlsObjects(tlsDir);
        make.push(secret, ...(bus.make === 'both' ? [caMap] : []));
      } finally {
        rmSync(tlsDir, { recursive: true, force: true }); // its key lives on only in the Secret
      }
    }
    if (!found.trust && o.trustPolicy) make.push(trustConfigMap(o.trustIssuer, o.plainHttpRegistry));

    if (o.dryRun) {
      process.stdout.write(make.map((m) => `---\n${stringify(withheld(m))}`).join('') || '# nothing to create: everything is there\n');
      return;
    }
    const { lines, made } = await createAll(kube, make);
    for (const k of keptLabels(found)) if (!made.has(k)) lines.push(`kept ${k}: already there, not changed`);
    if (found.trust && (o.trustIssuer.length || o.plainHttpRegistry.length))
      lines.push(
        `  (the --trust-issuer/--plain-http-registry flags were not applied: change ${SYSTEM_NS}/${TRUST_CONFIGMAP} with kubectl)`,
      );
    if (authority && made.has(`Secret ${KEYS_NS}/${KEYS_SECRET}`)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'admin.creds'), authority.mintUser('admin', adminPermissions).creds!, { mode: 0o600 });
      lines.push(
        `gantry account ${authority.accountKey}; wrote ${join(dir, 'admin.creds')} (0600: may call anything, as any caller; 24 h)`,
      );
    }
    process.stdout.write([...lines, '', ...keepNotes(dir), ''].join('\n'));
  } finally {
    if (o.dryRun) rmSync(work, { recursive: true, force: true });
    kube.close();
  }
}

interface Found {
  namespaces: Obj[];
  present: Set<string>;
  state: ClusterState;
  trust?: Obj;
}

/** What of install's objects the cluster holds; any error but 404 stops the install. */
async function readCluster(kube: Kube): Promise<Found> {
  const { isNotFound } = await import('../runtime/kube.js');
  const read = async (path: string): Promise<Obj | undefined> => {
    try {
      return await kube.get(path);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw cliError(`install: cannot read ${path}: ${(e as Error).message}`, 1);
    }
  };
  const namespaces = baseNamespaces();
  const present = new Set<string>();
  for (const ns of namespaces) if (await read(`/api/v1/namespaces/${ns.metadata.name}`)) present.add(label(ns));
  const state: ClusterState = {
    keys: await read(`${collection(KEYS_NS, 'secrets')}/${KEYS_SECRET}`),
    membrane: await read(`${collection(SYSTEM_NS, 'configmaps')}/${MEMBRANE_CONFIGMAP}`),
    tls: await read(`${collection(SYSTEM_NS, 'secrets')}/${NATS_TLS_SECRET}`),
    ca: await read(`${collection(SYSTEM_NS, 'configmaps')}/${NATS_CA_CONFIGMAP}`),
  };
  return { namespaces, present, state, trust: await read(`${collection(SYSTEM_NS, 'configmaps')}/${TRUST_CONFIGMAP}`) };
}

/** Each object with create, in order; one made meanwhile by someone else is theirs and kept. */
async function createAll(kube: Kube, make: Obj[]): Promise<{ lines: string[]; made: Set<string> }> {
  const { isAlreadyExists } = await import('../runtime/kube.js');
  const lines: string[] = [];
  const made = new Set<string>();
  for (const m of make) {
    try {
      await kube.create(pathOf(m), m);
      made.add(label(m));
      lines.push(`created ${label(m)}`);
    } catch (e) {
      if (isAlreadyExists(e)) lines.push(`kept ${label(m)}: it appeared while installing`);
      else
        throw cliError(
          `install: cannot create ${label(m)}: ${(e as Error).message} (created before it: ${[...made].join(', ') || 'nothing'})`,
          1,
        );
    }
  }
  return { lines, made };
}

function keptLabels(f: Found): string[] {
  const s = f.state;
  const objects = [s.keys, s.membrane, s.tls, s.ca, f.trust].filter(Boolean).map(label);
  return [...f.namespaces.map(label).filter((l) => f.present.has(l)), ...objects];
}

/** A Secret's values are not printed (a dry run's output ends up in logs); their size is. */
function withheld(o: Obj): Obj {
  if (o.kind !== 'Secret') return o;
  const sd = Object.fromEntries(
    Object.entries(o.stringData as Record<string, string>).map(([k, v]) => [k, `<${v.length} bytes, withheld>`]),
  );
  return { ...o, stringData: sd };
}

/** What the operator must keep, and how to back it up and restore it. */
function keepNotes(dir: string): string[] {
  const backup = 'gantry-membrane-keys.backup.yaml';
  return [
    'keep:',
    `  the Secret ${KEYS_NS}/${KEYS_SECRET}: the operator, system and gantry account seeds; every NATS credential is signed with them`,
    `    back it up (0600):  (umask 077; kubectl -n ${KEYS_NS} get secret ${KEYS_SECRET} -o yaml > ${backup})`,
    `    restore it:         gantry install --membrane-keys ${backup}`,
    `  ${join(dir, 'ca')}/ca.key: the bus CA's key (never in the cluster); it issues the NATS servers' next certificate`,
  ];
}
