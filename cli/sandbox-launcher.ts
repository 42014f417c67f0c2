/**
 * `gantry sandbox up|down|status`: the local Gantry cluster (sandbox/launcher). `up` runs in
 * the foreground until Ctrl-C or `down`; a second `up` on the same state dir resumes it.
 */
import { Option, type Command } from 'commander';
import { setLogLevel } from '../runtime/log.js';

const stateDirOption = () =>
  new Option('--state-dir <dir>', 'where the sandbox keeps its state (default: $GANTRY_SANDBOX_DIR, else .sandbox in the repository)');

/** A count flag as given (startSandbox says what is wrong with it); NaN for a non-number. */
const count = (v: string | undefined): number | undefined => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : NaN);

interface UpFlags {
  stateDir?: string;
  nodes?: string;
  registry?: string;
  apiserver?: string;
  natsServers?: string;
  controllers?: string;
}

export function registerSandboxLauncher(sandbox: Command): void {
  registerUp(sandbox);
  registerDown(sandbox);
  registerStatus(sandbox);
}

function registerUp(sandbox: Command): void {
  sandbox
    .command('up')
    .description(
      'start (or resume) the sandbox: API server (emulated or real), NATS, registry, controller, one agent per node, example providers',
    )
    .addOption(stateDirOption())
    .option(
      '--nodes <spec>',
      'nodes to create on first start: COUNT of this host\'s arch/os, plus ARCH/OS:COUNT groups, e.g. "3,arm64/linux:2"',
    )
    .addOption(
      new Option('--registry <kind>', 'archive registry on first start (default: docker when docker-registry is installed)').choices([
        'docker',
        'oci-layout',
      ]),
    )
    .option(
      '--nats-servers <n>',
      'NATS servers on first start: more than 1 runs a NATS cluster with routes on loopback, which every part connects to with all its URLs (default 1)',
    )
    .option('--controllers <n>', 'controllers on first start: more than 1 runs standbys under leader election (default 1)')
    .addOption(
      new Option(
        '--apiserver <kind>',
        "API server on first start: the built-in emulator, or a real kube-apiserver + etcd built by scripts/control-plane.sh, with the controller and agents under deploy/'s RBAC (default: emulated)",
      ).choices(['emulated', 'real']),
    )
    .action(up);
}

/** Runs the sandbox in the foreground until Ctrl-C or `gantry sandbox down`. */
async function up(o: UpFlags): Promise<void> {
  // the launcher's stdout tells the story; its children log to DIR/logs/
  if (!process.env.GANTRY_LOG_LEVEL) setLogLevel('warn');
  const { startSandbox, nextSteps } = await import('../sandbox/index.js');
  const ac = { stopping: false };
  const sb = await startSandbox({
    stateDir: o.stateDir,
    nodes: o.nodes,
    registry: o.registry,
    apiserver: o.apiserver,
    natsServers: count(o.natsServers),
    controllers: count(o.controllers),
    out: process.stdout,
  });
  process.stdout.write(nextSteps(sb) + '\n');
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.stopping) return;
    ac.stopping = true;
    process.stdout.write(`\n${sig}: stopping the sandbox (agents, controller, registry, NATS, API server)…\n`);
    sb.stop().catch(() => {});
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await sb.stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.stdout.write('sandbox stopped; `gantry sandbox up` resumes it\n');
}

function registerDown(sandbox: Command): void {
  sandbox
    .command('down')
    .description('stop a running sandbox (as Ctrl-C would)')
    .addOption(stateDirOption())
    .action(async (o: { stateDir?: string }) => {
      const { stopRunningSandbox, defaultStateDir } = await import('../sandbox/index.js');
      const r = await stopRunningSandbox(o.stateDir ?? defaultStateDir());
      process.stdout.write(`sandbox (pid ${r.pid}) stopped${r.forced ? ' (some parts had to be killed)' : ''}\n`);
    });
}

function registerStatus(sandbox: Command): void {
  sandbox
    .command('status')
    .description('show whether the sandbox runs, its parts, nodes and providers')
    .addOption(stateDirOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { stateDir?: string; json?: boolean }) => {
      const { sandboxStatus, formatStatus, defaultStateDir } = await import('../sandbox/index.js');
      const s = await sandboxStatus(o.stateDir ?? defaultStateDir());
      process.stdout.write((o.json ? JSON.stringify(s, null, 2) : formatStatus(s)) + '\n');
    });
}
