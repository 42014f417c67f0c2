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
 * Where it lives: layout.ts decides and checks the layout (sandbox.json, ports); launch.ts holds
 * what the steps share (children, run.json, the Ctrl-C check) and the stop with its drain
 * phase; steps/ starts the parts in order — ground.ts (API server, namespace, CRDs, Nodes),
 * bus.ts (membrane, NATS), archives.ts (registry, dev keys, example archives), controllers.ts,
 * agents.ts, examples.ts; control.ts acts on a sandbox from outside (down, status, reaping).
 *
 * Usage:
 *   const sb = await startSandbox({ stateDir: '.sandbox', out: process.stdout });
 *   …
 *   await sb.stop();
 */
import { reapOrphans } from './control.js';
import type { AppliedExample } from './cluster-objects.js';
import { defaultStateDir } from './defaults.js';
import { SandboxError } from './errors.js';
import type { PublishedArchive } from './example-archives.js';
import { Launch } from './launch.js';
import { checkLayoutOptions, claimPorts, decideLayout, type LayoutPorts } from './layout.js';
import type { SandboxNode } from './node-spec.js';
import type { SandboxRegistry } from './registry-server.js';
import { StateDir } from './state-dir.js';
import { startAgents } from './steps/agents.js';
import { publishExampleArchives, startRegistryStep } from './steps/archives.js';
import { startBus } from './steps/bus.js';
import { startControllers } from './steps/controllers.js';
import { applySandboxExamples } from './steps/examples.js';
import { prepareGround } from './steps/ground.js';

export { nextSteps } from './next-steps.js';

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
  /** The bus CA's certificate: every NATS client verifies the sandbox's servers with it (TLS always). */
  natsCa: string;
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

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const say = (line: string) => opts.out?.write(line + '\n');
  // bad input is refused before anything is created or started
  const asked = checkLayoutOptions(opts);
  const sd = new StateDir(opts.stateDir ?? defaultStateDir());
  sd.ensure();
  reapOrphans(sd, say); // before readRun(), which clears a dead launcher's record
  const running = sd.readRun();
  if (running && running.pid !== process.pid) {
    throw new SandboxError(
      'SANDBOX_ALREADY_RUNNING',
      `a sandbox is already running on ${sd.root} (pid ${running.pid}); stop it with \`gantry sandbox down --state-dir ${sd.root}\``,
    );
  }
  // What the first `up` decides is kept; a resume reuses it.
  const { state, resumed } = await decideLayout(sd, opts, asked, say);
  const ports = await claimPorts(state, sd);
  const l = new Launch(sd, state, ports.natsUrl, opts.out);
  l.watchSignals();
  try {
    l.say(`${resumed ? 'resuming' : 'starting'} the Gantry sandbox in ${sd.root}`);
    const { registry, issuer, archives, examples } = await startParts(l, opts, ports);
    return {
      stateDir: sd.root,
      kubeconfigPath: sd.kubeconfig,
      apiserverUrl: l.apiUrl,
      natsUrl: ports.natsUrl,
      natsUrls: ports.natsUrls,
      natsCreds: sd.adminCreds,
      natsCa: sd.natsCa,
      registry,
      nodes: state.nodes,
      issuer,
      archives,
      examples,
      resumed,
      processes: () => l.processes(),
      restart: (name: string) => l.restart(name),
      stopped: l.stopped,
      stop: () => l.stop(),
    };
  } catch (err) {
    await l.stop();
    // a Ctrl-C also reaches a synchronous child (make) and fails it: report the cause
    l.checkInterrupted();
    throw err;
  } finally {
    l.unwatchSignals();
  }
}

/**
 * The parts in dependency order, each step checking for a Ctrl-C once its part is ready: the
 * ground (API server, namespace, CRDs, Nodes), the bus (NATS), the registry and example
 * archives, the controllers, the agents, and the examples.
 */
async function startParts(
  l: Launch,
  opts: SandboxOptions,
  ports: LayoutPorts,
): Promise<Pick<Sandbox, 'registry' | 'issuer' | 'archives' | 'examples'>> {
  const identities = await prepareGround(l, ports.apiserverPort);
  await startBus(l, ports.natsPorts);
  const registry = await startRegistryStep(l);
  const { keys, archives } = await publishExampleArchives(l, registry);
  const trust = { issuer: keys.issuer, plainHttpRegistries: registry.plainHttp };
  await startControllers(l, {
    ...trust,
    kubeconfig: identities.controllerKubeconfig,
    agentLeaseGraceMs: opts.agentLeaseGraceMs,
    leaderElection: opts.leaderElection,
  });
  await startAgents(l, { ...trust, kubeconfig: identities.agentKubeconfig, startTimeoutMs: opts.agentStartTimeoutMs });
  l.sd.updateRun(l.record());
  l.checkInterrupted();
  const examples = opts.skipExamples ? [] : await applySandboxExamples(l, registry, archives, opts.examplesDir);
  // a Ctrl-C while the examples were applied must not be lost once the handler goes
  l.checkInterrupted();
  return { registry, issuer: keys.issuer, archives, examples };
}
