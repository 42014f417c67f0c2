/**
 * `gantry sandbox up`: a whole Gantry cluster on this machine, in one foreground process.
 *
 *   API emulator                     (child, `gantry sandbox apiserver`) ← DIR/kubeconfig
 *     or, with --apiserver real, etcd + kube-apiserver (children; real-apiserver.ts), where
 *     the controller and agents run as deploy/base's ServiceAccounts
 *   nats-server, docker-registry     (children, logs in DIR/logs/); with --nats-servers N a
 *                                    NATS cluster of N servers with routes on loopback
 *   gantry controller                (child, the same command a cluster runs); with
 *                                    --controllers N, N of them under leader election
 *   gantry agent × N nodes           (children; foreign-arch nodes get --target of their arch)
 *
 * Start order follows dependencies (API → namespace, CRDs, Nodes → NATS, registry → keys and
 * example archives → controller → agents → examples/); stop is the reverse, agents first so
 * provider hosts drain before NATS goes away. A part that dies unexpectedly is named in the
 * output; the rest keeps running (like a cluster with a failed pod). Everything the sandbox
 * decides at its first `up` (ports, nodes, registry) is kept in DIR/sandbox.json, and the
 * emulator persists its store in DIR/apiserver, so a second `up` on the same DIR resumes.
 *
 * Usage:
 *   const sb = await startSandbox({ stateDir: '.sandbox', out: process.stdout });
 *   …
 *   await sb.stop();
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { distEntry, gantryBin, packageRoot } from '../../runtime/paths.js';
import type { ControllerChildConfig } from './controller-main.js';
import { hostTarget } from '../../agent/target.js';
import { SandboxError } from './errors.js';
import { freePort, portIsFree } from './host.js';
import { ChildGroup, killMarked } from './child-group.js';
import { ManagedProcess } from './managed-process.js';
import { startNatsCluster } from './nats-server.js';
import { DEFAULT_NODE_SPEC, parseNodeSpec, type SandboxNode } from './node-spec.js';
import { chooseRegistryKind, startRegistry, type SandboxRegistry } from './registry-server.js';
import { commandLineMentions, isAlive, StateDir, writeAtomic, type RunRecord, type SandboxState } from './state-dir.js';
import {
  applyCrds,
  applyExamples,
  applyObjects,
  defaultExampleProviders,
  sandboxExampleFiles,
  ensureNamespace,
  GANTRY_NAMESPACE,
  registerNodes,
  type AppliedExample,
} from './cluster-objects.js';
import { defaultStateDir } from './defaults.js';
import { KEY_FILES, MembraneAuthority } from '../../membrane/authority.js';
import { adminPermissions } from '../../membrane/permissions.js';
import { chooseApiserverKind, startRealApiserver } from './real-apiserver.js';
import { controlPlaneVersions } from '../controlplane/index.js';
import { buildProviders, devKeys, EXAMPLE_ARCHIVES, publishExamples, type PublishedArchive } from './example-archives.js';

export interface SandboxOptions {
  stateDir?: string;
  /** `--nodes` SPEC; only used when the state dir is new. */
  nodes?: string;
  /** `--registry docker|oci-layout`; only used when the state dir is new. */
  registry?: string;
  /** `--apiserver emulated|real` (default emulated); only used when the state dir is new. */
  apiserver?: string;
  /** Where progress goes (people read it); default: nowhere. */
  out?: NodeJS.WritableStream;
  /** Skip applying examples/ (tests that apply their own). */
  skipExamples?: boolean;
  /** Folder of example manifests (default <repo>/examples). */
  examplesDir?: string;
  /** How long an agent Lease may go unrenewed before the controller treats the node as lost (default: the controller's, 20 s). */
  agentLeaseGraceMs?: number;
  /** How long an agent may take to publish its Lease. */
  agentStartTimeoutMs?: number;
  /** `--nats-servers N`: a NATS cluster of N servers (default 1); only used when the state dir is new. */
  natsServers?: number;
  /** `--controllers N`: N controllers, one leader and standbys (default 1); only used when the state dir is new. */
  controllers?: number;
  /** Leader election timings of the controllers (default the controller's: 15 s / 10 s / 2 s). */
  leaderElection?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
}

export interface Sandbox {
  stateDir: string;
  kubeconfigPath: string;
  apiserverUrl: string;
  /** The NATS URL; for a cluster the members' URLs comma-separated (connectNats and every --nats take that). */
  natsUrl: string;
  /** Every NATS server's URL (one unless --nats-servers). */
  natsUrls: string[];
  /** The admin .creds file (the membrane): may call any provider, as any caller. */
  natsCreds: string;
  registry: SandboxRegistry;
  nodes: SandboxNode[];
  issuer: string;
  archives: PublishedArchive[];
  examples: AppliedExample[];
  resumed: boolean;
  /** Children by name (`controller`, `controller-2`, `agent-<node>`, `nats-server`, `nats-server-2`, `docker-registry`). */
  processes(): Record<string, number | undefined>;
  /**
   * Start a child again after it died (killed by a test or a chaos run), as a cluster
   * restarts a failed pod: same command, ports and state. Resolves when it is ready again.
   */
  restart(name: string): Promise<void>;
  /** Resolves when stop() has finished (from a signal or a call). */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

function say(out: NodeJS.WritableStream | undefined, line: string): void {
  out?.write(line + '\n');
}

async function portFor(saved: number | undefined, what: string, sd: StateDir): Promise<number> {
  if (saved === undefined) return freePort();
  if (!(await portIsFree(saved))) {
    throw new SandboxError(
      'SANDBOX_PORT_TAKEN',
      `${what} port 127.0.0.1:${saved} (kept in ${sd.stateFile} so resumed clients keep working) is in use; free it, or remove ${sd.root} to start afresh`,
    );
  }
  return saved;
}

/**
 * Stop what a launcher killed with SIGKILL left behind: the children named in run.json, then
 * every process still carrying this state dir's marker (a child spawned after the last
 * record, provider hosts of a killed agent). Nothing is touched while a launcher owns the dir.
 */
function reapOrphans(sd: StateDir, out?: NodeJS.WritableStream): void {
  let rec: RunRecord | undefined;
  try {
    rec = JSON.parse(readFileSync(sd.runFile, 'utf8'));
  } catch {
    rec = undefined;
  }
  if (rec && Number.isInteger(rec.pid) && isAlive(rec.pid)) return;
  for (const c of rec?.children ?? []) {
    // a pid may have been reused since: only a process whose command line names this state
    // dir (every child's does) is ours to kill
    if (Number.isInteger(c.pid) && isAlive(c.pid) && commandLineMentions(c.pid, sd.root)) {
      say(out, `  stopping ${c.name} (pid ${c.pid}) left by a previous sandbox that did not stop cleanly`);
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {}
      }
    }
  }
  for (const pid of killMarked(sd.root))
    say(out, `  stopped pid ${pid} (marked with this state dir) left by a previous sandbox that did not stop cleanly`);
}

function countOption(n: number | undefined, what: string): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 9)
    throw new SandboxError('SANDBOX_BAD_COUNT', `${what} must be a whole number from 1 to 9, got ${n}`, 'usage');
  return n;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const out = opts.out;
  const askedNatsServers = countOption(opts.natsServers, '--nats-servers');
  const askedControllers = countOption(opts.controllers, '--controllers');
  // bad input is refused before anything is created or started
  const askedNodes = opts.nodes !== undefined ? parseNodeSpec(opts.nodes) : undefined;
  const askedRegistry = opts.registry !== undefined ? chooseRegistryKind(opts.registry) : undefined;
  const askedApiserver = opts.apiserver !== undefined ? chooseApiserverKind(opts.apiserver) : undefined;
  const sd = new StateDir(opts.stateDir ?? defaultStateDir());
  sd.ensure();
  reapOrphans(sd, out); // before readRun(), which clears a dead launcher's record
  const running = sd.readRun();
  if (running && running.pid !== process.pid) {
    throw new SandboxError(
      'SANDBOX_ALREADY_RUNNING',
      `a sandbox is already running on ${sd.root} (pid ${running.pid}); stop it with \`gantry sandbox down --state-dir ${sd.root}\``,
    );
  }

  // What the first `up` decides is kept; a resume reuses it.
  let state = sd.readState();
  const resumed = !!state;
  if (state) {
    if (
      opts.nodes !== undefined ||
      opts.registry !== undefined ||
      opts.natsServers !== undefined ||
      opts.controllers !== undefined ||
      (askedApiserver !== undefined && askedApiserver !== (state.apiserver ?? 'emulated'))
    ) {
      say(
        out,
        `note: ${sd.root} was created with ${state.nodes.length} nodes, a ${state.registry.kind} registry and the ${state.apiserver ?? 'emulated'} API server; resuming that (remove the dir for a new layout)`,
      );
    }
    if (state.apiserver === 'real') chooseApiserverKind('real'); // the binaries must still be there
  } else {
    const nodes = askedNodes ?? parseNodeSpec(DEFAULT_NODE_SPEC);
    const kind = askedRegistry ?? chooseRegistryKind(undefined);
    state = {
      version: 1,
      createdAt: new Date().toISOString(),
      nodes,
      registry: kind === 'docker' ? { kind, location: '', port: await freePort() } : { kind, location: '' },
      apiserverPort: await freePort(),
      apiserver: askedApiserver ?? 'emulated',
      ...(askedApiserver === 'real' ? { etcdPort: await freePort(), etcdPeerPort: await freePort() } : {}),
      natsPort: await freePort(),
      controllerMetricsPort: await freePort(),
    };
    const n = askedNatsServers ?? 1;
    if (n > 1) {
      state.natsExtraPorts = [];
      state.natsRoutePorts = [];
      for (let i = 1; i < n; i++) state.natsExtraPorts.push(await freePort());
      for (let i = 0; i < n; i++) state.natsRoutePorts.push(await freePort());
    }
    const c = askedControllers ?? 1;
    if (c > 1) {
      state.extraControllerMetricsPorts = [];
      for (let i = 1; i < c; i++) state.extraControllerMetricsPorts.push(await freePort());
    }
  }
  const st: SandboxState = state;
  const apiserverPort = await portFor(st.apiserverPort, 'API server', sd);
  const realApi = st.apiserver === 'real';
  if (realApi) {
    st.etcdPort = await portFor(st.etcdPort ?? (await freePort()), 'etcd', sd);
    st.etcdPeerPort = await portFor(st.etcdPeerPort ?? (await freePort()), 'etcd peer', sd);
  }
  const natsPort = await portFor(st.natsPort, 'NATS', sd);
  const natsPorts = [natsPort];
  for (const p of st.natsExtraPorts ?? []) natsPorts.push(await portFor(p, 'NATS', sd));
  for (const p of st.natsRoutePorts ?? []) await portFor(p, 'NATS route', sd);
  for (const p of [st.controllerMetricsPort, ...(st.extraControllerMetricsPorts ?? [])]) await portFor(p, 'controller metrics', sd);
  const natsUrls = natsPorts.map((p) => `nats://127.0.0.1:${p}`);
  const natsUrl = natsUrls.join(',');
  if (st.registry.kind === 'docker') await portFor(st.registry.port, 'registry', sd);

  const children: ManagedProcess[] = [];
  let apiUrl = '';
  let kube: KubeClient | undefined;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const unexpected = (p: ManagedProcess, code: number | null, signal: NodeJS.Signals | null) => {
    say(
      out,
      `! ${p.name} exited unexpectedly (${signal ?? `code ${code}`}); last lines of ${p.o.logFile}:\n${p.logTail().split('\n').slice(-8).join('\n')}`,
    );
  };

  const record = (): RunRecord => ({
    pid: process.pid,
    startedAt: new Date().toISOString(),
    apiserverUrl: apiUrl,
    natsUrl,
    natsCreds: sd.adminCreds,
    registry: st.registry.location,
    children: children.filter((c) => c.pid !== undefined).map((c) => ({ name: c.name, pid: c.pid! })),
  });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // reverse start order: agents (and their provider hosts) first, all at once as a
      // cluster drains its nodes; then the controller, the registry, NATS, the API last
      const agents = children.filter((c) => c.name.startsWith('agent-'));
      await Promise.all(agents.map((c) => c.stop().catch(() => {})));
      for (const c of children.filter((c) => !agents.includes(c)).reverse()) await c.stop().catch(() => {});
      // whatever a child left (a provider host its agent could not stop in time) goes too
      killMarked(sd.root);
      kube?.close();
      sd.release();
      resolveStopped();
    })();
    return stopping;
  };

  sd.claim(record());
  // Every child is recorded the moment it is spawned (ChildGroup), before its readiness wait,
  // so a launcher killed mid-start leaves a record the next `up` can reap from, and a Ctrl-C
  // during start-up stops a child whose start had not finished too.
  const group = new ChildGroup(sd.root, (p) => {
    if (!children.includes(p)) children.push(p); // a restarted child is recorded once
    sd.updateRun(record());
  });
  let interrupted: NodeJS.Signals | undefined;
  const onStartupSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    say(out, `${sig} during start-up: stopping what has started`);
  };
  const checkInterrupted = () => {
    if (interrupted)
      throw new SandboxError('SANDBOX_INTERRUPTED', `start-up interrupted by ${interrupted}; everything started was stopped`);
  };
  process.on('SIGINT', onStartupSignal);
  process.on('SIGTERM', onStartupSignal);
  const env = { ...process.env, GANTRY_LOG_LEVEL: process.env.GANTRY_LOG_LEVEL ?? 'info' };
  try {
    say(out, `${resumed ? 'resuming' : 'starting'} the Gantry sandbox in ${sd.root}`);
    // 1. the API server and the kubeconfig everyone uses: the emulator (its own process, like
    //    the other parts: its log goes to a file and it keeps answering while this process is
    //    busy), or a real kube-apiserver over etcd where the controller and the agents get
    //    deploy/base's ServiceAccount tokens instead of the admin's
    let controllerKubeconfig = sd.kubeconfig;
    let agentKubeconfig = sd.kubeconfig;
    if (realApi) {
      sd.writeState(st);
      const real = await startRealApiserver({
        sd,
        apiserverPort,
        etcdPort: st.etcdPort!,
        etcdPeerPort: st.etcdPeerPort!,
        env,
        onUnexpectedExit: unexpected,
        group,
        packageRoot: packageRoot(),
      });
      checkInterrupted();
      apiUrl = real.url;
      controllerKubeconfig = real.controllerKubeconfig;
      agentKubeconfig = real.agentKubeconfig;
    } else {
      const apiKubeconfig = join(sd.apiserverDir, 'kubeconfig');
      rmSync(apiKubeconfig, { force: true }); // written afresh once it listens: that is "ready"
      const apiserver = new ManagedProcess({
        name: 'apiserver',
        command: process.execPath,
        args: [gantryBin(), 'sandbox', 'apiserver', '--port', String(apiserverPort), '--host', '127.0.0.1', '--state-dir', sd.apiserverDir],
        logFile: sd.log('apiserver'),
        env,
        onUnexpectedExit: unexpected,
        group,
        port: apiserverPort,
        ready: async () => existsSync(apiKubeconfig),
        startTimeoutMs: 30_000,
      });
      await apiserver.start();
      checkInterrupted();
      apiUrl = `https://127.0.0.1:${apiserverPort}`;
      writeAtomic(sd.kubeconfig, readFileSync(apiKubeconfig, 'utf8'), 0o600);
    }
    say(
      out,
      `  API server     ${apiUrl}  ${realApi ? `kube-apiserver ${controlPlaneVersions().k8s} + etcd ${controlPlaneVersions().etcd}` : '(emulator)'}  (kubeconfig ${sd.kubeconfig})`,
    );
    if (realApi)
      say(
        out,
        `  identities     controller and agents run as deploy/base's ServiceAccounts gantry-system/gantry-controller and gantry-agent`,
      );
    kube = new KubeClient(loadKubeConfig({ kubeconfigPath: sd.kubeconfig }));
    await ensureNamespace(kube, GANTRY_NAMESPACE);
    const crds = await applyCrds(kube, join(packageRoot(), 'crds'));
    // a real server serves a new CRD a moment after storing it; the controller checks at start
    await crdsServed(kube, () => checkInterrupted());
    await registerNodes(kube, st.nodes);
    say(out, `  CRDs           ${crds.join(', ')}`);
    const host = hostTarget();
    for (const n of st.nodes) {
      say(
        out,
        `  node           ${n.name}  ${n.arch}/${n.os}${n.foreign ? `  (foreign: its agent runs on this ${host} host and cannot load ${n.target} binaries; it shows placement only)` : ''}`,
      );
    }

    // 2. NATS and the registry
    const authority = sandboxMembrane(sd);
    await startNatsCluster({
      dir: sd.natsDir,
      ports: natsPorts,
      routePorts: st.natsRoutePorts,
      logFile: (i) => sd.log(i === 1 ? 'nats' : `nats-${i}`),
      serverConfig: (resolverDir) => authority.serverConfig(resolverDir),
      onUnexpectedExit: unexpected,
      group,
    });
    checkInterrupted();
    say(
      out,
      `  NATS           ${natsUrl} (${natsPorts.length > 1 ? `a cluster of ${natsPorts.length} servers, ` : ''}operator mode; admin creds ${sd.adminCreds})`,
    );
    const registry = await startRegistry({
      kind: st.registry.kind,
      dir: sd.registryDir,
      port: st.registry.port,
      logFile: sd.log('registry'),
      onUnexpectedExit: unexpected,
      group,
    });
    checkInterrupted();
    st.registry.location = registry.location;
    say(out, `  registry       ${registry.location} (${registry.kind})`);

    // 3. dev keys and the example archives
    const keys = devKeys(sd.keysDir);
    st.issuer = keys.issuer;
    sd.writeState(st);
    const providersDir = join(packageRoot(), 'providers');
    buildProviders(providersDir, sd.log('providers-build'));
    const archives = await publishExamples({ refFor: registry.refFor, plainHttp: registry.plainHttp, providersDir, target: host, keys });
    for (const a of archives)
      say(out, `  archive        ${a.ref}  revision ${a.revision}${a.pushed ? ' (signed and pushed)' : ' (already published)'}`);

    // 4. the controller and one agent per node, as the same commands a cluster runs
    const kubeconfigArgs = ['--kubeconfig', agentKubeconfig];
    const trustArgs = ['--trust-issuer', keys.issuer, ...registry.plainHttp.flatMap((h) => ['--plain-http-registry', h])];
    const controllerConfig: ControllerChildConfig = {
      kubeconfig: controllerKubeconfig,
      namespace: GANTRY_NAMESPACE,
      trustedIssuers: [keys.issuer],
      plainHttpRegistries: registry.plainHttp,
      metricsAddr: `127.0.0.1:${st.controllerMetricsPort}`,
      agentLeaseGraceMs: opts.agentLeaseGraceMs,
      membrane: { keysDir: sd.membraneDir, natsUrl },
      leaderElection: opts.leaderElection,
    };
    const metricsPorts = [st.controllerMetricsPort, ...(st.extraControllerMetricsPorts ?? [])];
    const controllers = metricsPorts.map((port, k) => {
      const name = k === 0 ? 'controller' : `controller-${k + 1}`;
      const config: ControllerChildConfig = {
        ...controllerConfig,
        metricsAddr: `127.0.0.1:${port}`,
        ...(metricsPorts.length > 1 ? { identity: name } : {}),
      };
      return new ManagedProcess({
        name,
        command: process.execPath,
        args: [distEntry('sandbox/launcher/controller-main'), JSON.stringify(config)],
        logFile: sd.log(name),
        env,
        onUnexpectedExit: unexpected,
        group,
        // ready = its caches synced (/readyz), so agents and examples meet a working controller
        ready: async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        startTimeoutMs: 30_000,
      });
    });
    await Promise.all(controllers.map((c) => c.start()));
    checkInterrupted();
    say(
      out,
      `  controller     ${controllers.map((c, k) => `${c.name} pid ${c.pid}, metrics http://127.0.0.1:${metricsPorts[k]}/metrics`).join('; ')}${controllers.length > 1 ? ' (one leads, the others stand by)' : ''}`,
    );

    const agents = st.nodes.map(
      (n) =>
        new ManagedProcess({
          name: `agent-${n.name}`,
          command: process.execPath,
          args: [
            gantryBin(),
            'agent',
            ...kubeconfigArgs,
            '--node',
            n.name,
            '--nats',
            natsUrl,
            '--namespace',
            GANTRY_NAMESPACE,
            '--cache-dir',
            sd.cacheDir(n.name),
            '--membrane',
            ...trustArgs,
            ...(n.foreign ? ['--target', n.target] : []),
          ],
          logFile: sd.log(`agent-${n.name}`),
          env,
          onUnexpectedExit: unexpected,
          group,
          ready: () => leaseRenewedSince(kube!, n.name, Date.now() - 60_000),
          startTimeoutMs: opts.agentStartTimeoutMs ?? 30_000,
        }),
    );
    // agents start in parallel: each waits for its own Lease
    await Promise.all(agents.map((a) => a.start()));
    checkInterrupted();
    say(out, `  agents         ${agents.map((a) => `${a.name.replace(/^agent-/, '')} (pid ${a.pid})`).join(', ')}`);
    sd.updateRun(record());

    checkInterrupted();
    // 5. the examples
    let examples: AppliedExample[] = [];
    if (!opts.skipExamples) {
      // examples/ also holds manifests for real clusters; the sandbox applies those written
      // for it (they name its registry with the placeholder), else its own two Providers
      const files = sandboxExampleFiles(opts.examplesDir ?? join(packageRoot(), 'examples'));
      examples = files.length
        ? await applyExamples(kube, files, registry.location)
        : await applyObjects(
            kube,
            defaultExampleProviders(archives.map((a) => ({ ...a, capid: EXAMPLE_ARCHIVES.find((e) => e.name === a.name)!.capid }))),
          );
      for (const e of examples)
        say(out, `  example        ${e.kind} ${e.namespace}/${e.name}${e.created ? ' (applied)' : ' (exists; left as is)'}`);
    }
    // a Ctrl-C while the examples were applied must not be lost once the handler goes
    checkInterrupted();

    return {
      stateDir: sd.root,
      kubeconfigPath: sd.kubeconfig,
      apiserverUrl: apiUrl,
      natsUrl,
      natsUrls,
      natsCreds: sd.adminCreds,
      registry,
      nodes: st.nodes,
      issuer: keys.issuer,
      archives,
      examples,
      resumed,
      processes: () => Object.fromEntries(children.map((c) => [c.name, c.running ? c.pid : undefined])),
      restart: async (name: string) => {
        const c = children.find((x) => x.name === name);
        if (!c)
          throw new SandboxError(
            'SANDBOX_NO_SUCH_PART',
            `the sandbox has no part named ${name} (it has ${children.map((x) => x.name).join(', ')})`,
          );
        if (stopping) throw new SandboxError('SANDBOX_NO_SUCH_PART', `the sandbox is stopping; ${name} is not restarted`);
        if (c.running)
          throw new SandboxError('SANDBOX_NO_SUCH_PART', `${name} is running (pid ${c.pid}); only a part that died is restarted`);
        await c.start();
        sd.updateRun(record());
      },
      stopped,
      stop,
    };
  } catch (err) {
    await stop();
    // a Ctrl-C also reaches a synchronous child (make) and fails it: report the cause
    checkInterrupted();
    throw err;
  } finally {
    process.off('SIGINT', onStartupSignal);
    process.off('SIGTERM', onStartupSignal);
  }
}

/** Resolves once both Gantry resources answer a list (a real server serves a CRD shortly after storing it). */
async function crdsServed(kube: KubeClient, checkInterrupted: () => void, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkInterrupted();
    try {
      for (const plural of ['providers', 'providerinstances'])
        await kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural }), { limit: 1 });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new SandboxError(
          'SANDBOX_PROCESS_FAILED',
          `the Gantry CRDs were not served within ${timeoutMs} ms: ${(err as Error).message}`,
          'failure',
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** True when the agent on `node` has renewed its Lease after `sinceMs`. */
async function leaseRenewedSince(kube: KubeClient, node: string, sinceMs: number): Promise<boolean> {
  try {
    const lease = await kube.get(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        plural: 'leases',
        namespace: GANTRY_NAMESPACE,
        name: `gantry-agent-${node}`,
      }),
    );
    const t = Date.parse(lease?.spec?.renewTime ?? '');
    return Number.isFinite(t) && t >= sinceMs - 1000;
  } catch {
    return false;
  }
}

/** The commands a person can try next, printed by `up`. */
/**
 * The sandbox's membrane: its keys in DIR/membrane (made on first start, kept across
 * resumes), and an admin user's .creds there that `gantry call` and the demo use. The admin
 * may call anything, as any caller: it is the sandbox operator's tool, not a service's.
 */
function sandboxMembrane(sd: StateDir): MembraneAuthority {
  let authority: MembraneAuthority;
  if (existsSync(join(sd.membraneDir, KEY_FILES.account))) {
    authority = MembraneAuthority.load(sd.membraneDir);
  } else {
    authority = MembraneAuthority.generate();
    authority.save(sd.membraneDir);
  }
  writeFileSync(sd.adminCreds, authority.mintUser('sandbox-admin', adminPermissions).creds!, { mode: 0o600 });
  return authority;
}

export function nextSteps(sb: Pick<Sandbox, 'kubeconfigPath' | 'natsUrl' | 'stateDir'>): string {
  const k = `kubectl --kubeconfig ${sb.kubeconfigPath}`;
  return [
    '',
    'The sandbox is up. Try:',
    `  export KUBECONFIG=${sb.kubeconfigPath}`,
    `  ${k} get providers`,
    `  ${k} get providerinstances -o wide`,
    `  ${k} get nodes -L kubernetes.io/arch`,
    `  ${k} scale provider/echo --replicas=3`,
    `  ${k} describe provider echo`,
    `  npx gantry call echo Echo --data hello   # finds this sandbox's NATS (${sb.natsUrl})`,
    `  npx gantry sandbox status --state-dir ${sb.stateDir}`,
    '',
    `Logs: ${join(sb.stateDir, 'logs')}/   Stop: Ctrl-C here, or \`npx gantry sandbox down --state-dir ${sb.stateDir}\``,
  ].join('\n');
}
