/**
 * The sandbox's layout: what the first `up` decides (nodes, registry, API server kind, every
 * port) and keeps in DIR/sandbox.json, and what a resume checks before reusing it (the ports
 * must still be free). Bad options are refused before anything is created or started.
 */
import { SandboxError } from './errors.js';
import { freePort, portIsFree } from './host.js';
import { DEFAULT_NODE_SPEC, parseNodeSpec, type SandboxNode } from './node-spec.js';
import { type ApiserverKind, chooseApiserverKind } from './real-apiserver.js';
import { chooseRegistryKind } from './registry-server.js';
import type { RegistryKind, SandboxState, StateDir } from './state-dir.js';

/** The layout options of `up`, as given; each only counts when the state dir is new. */
export interface LayoutOptions {
  nodes?: string;
  registry?: string;
  apiserver?: string;
  natsServers?: number;
  controllers?: number;
}

/** The layout options, checked. */
export interface AskedLayout {
  nodes?: SandboxNode[];
  registry?: RegistryKind;
  apiserver?: ApiserverKind;
  natsServers?: number;
  controllers?: number;
}

function countOption(n: number | undefined, what: string): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 9)
    throw new SandboxError('SANDBOX_BAD_COUNT', `${what} must be a whole number from 1 to 9, got ${n}`, 'usage');
  return n;
}

/** Checks every layout option, so bad input is refused before anything is created or started. */
export function checkLayoutOptions(opts: LayoutOptions): AskedLayout {
  const natsServers = countOption(opts.natsServers, '--nats-servers');
  const controllers = countOption(opts.controllers, '--controllers');
  return {
    natsServers,
    controllers,
    nodes: opts.nodes !== undefined ? parseNodeSpec(opts.nodes) : undefined,
    registry: opts.registry !== undefined ? chooseRegistryKind(opts.registry) : undefined,
    apiserver: opts.apiserver !== undefined ? chooseApiserverKind(opts.apiserver) : undefined,
  };
}

/**
 * The kept layout of a resumed sandbox (with a note when options asked for another one), or a
 * new layout on free ports.
 */
export async function decideLayout(
  sd: StateDir,
  opts: LayoutOptions,
  asked: AskedLayout,
  say: (line: string) => void,
): Promise<{ state: SandboxState; resumed: boolean }> {
  const state = sd.readState();
  if (!state) return { state: await newLayout(asked), resumed: false };
  if (
    opts.nodes !== undefined ||
    opts.registry !== undefined ||
    opts.natsServers !== undefined ||
    opts.controllers !== undefined ||
    (asked.apiserver !== undefined && asked.apiserver !== (state.apiserver ?? 'emulated'))
  ) {
    say(
      `note: ${sd.root} was created with ${state.nodes.length} nodes, a ${state.registry.kind} registry and the ` +
        `${state.apiserver ?? 'emulated'} API server; resuming that (remove the dir for a new layout)`,
    );
  }
  if (state.apiserver === 'real') chooseApiserverKind('real'); // the binaries must still be there
  return { state, resumed: true };
}

async function newLayout(asked: AskedLayout): Promise<SandboxState> {
  const nodes = asked.nodes ?? parseNodeSpec(DEFAULT_NODE_SPEC);
  const kind = asked.registry ?? chooseRegistryKind(undefined);
  const state: SandboxState = {
    version: 1,
    createdAt: new Date().toISOString(),
    nodes,
    registry: kind === 'docker' ? { kind, location: '', port: await freePort() } : { kind, location: '' },
    apiserverPort: await freePort(),
    apiserver: asked.apiserver ?? 'emulated',
    ...(asked.apiserver === 'real' ? { etcdPort: await freePort(), etcdPeerPort: await freePort() } : {}),
    natsPort: await freePort(),
    controllerMetricsPort: await freePort(),
    agentMetricsPorts: {},
  };
  for (const node of nodes) state.agentMetricsPorts![node.name] = await freePort();
  const n = asked.natsServers ?? 1;
  if (n > 1) {
    state.natsExtraPorts = [];
    state.natsRoutePorts = [];
    for (let i = 1; i < n; i++) state.natsExtraPorts.push(await freePort());
    for (let i = 0; i < n; i++) state.natsRoutePorts.push(await freePort());
  }
  const c = asked.controllers ?? 1;
  if (c > 1) {
    state.extraControllerMetricsPorts = [];
    for (let i = 1; i < c; i++) state.extraControllerMetricsPorts.push(await freePort());
  }
  return state;
}

async function portFor(saved: number | undefined, what: string, sd: StateDir): Promise<number> {
  if (saved === undefined) return freePort();
  if (!(await portIsFree(saved))) {
    throw new SandboxError(
      'SANDBOX_PORT_TAKEN',
      `${what} port 127.0.0.1:${saved} (kept in ${sd.stateFile} so resumed clients keep working) is in use; ` +
        `free it, or remove ${sd.root} to start afresh`,
    );
  }
  return saved;
}

/** The ports the parts listen on; the NATS URLs follow from them. */
export interface LayoutPorts {
  apiserverPort: number;
  natsPorts: number[];
  natsUrls: string[];
  /** The members' URLs comma-separated (connectNats and every --nats take that). */
  natsUrl: string;
}

/**
 * Checks that every kept port is free again (SANDBOX_PORT_TAKEN otherwise); etcd ports missing
 * from an older state are chosen now and kept in `st`.
 */
export async function claimPorts(st: SandboxState, sd: StateDir): Promise<LayoutPorts> {
  const apiserverPort = await portFor(st.apiserverPort, 'API server', sd);
  if (st.apiserver === 'real') {
    st.etcdPort = await portFor(st.etcdPort ?? (await freePort()), 'etcd', sd);
    st.etcdPeerPort = await portFor(st.etcdPeerPort ?? (await freePort()), 'etcd peer', sd);
  }
  const natsPorts = [await portFor(st.natsPort, 'NATS', sd)];
  for (const p of st.natsExtraPorts ?? []) natsPorts.push(await portFor(p, 'NATS', sd));
  for (const p of st.natsRoutePorts ?? []) await portFor(p, 'NATS route', sd);
  for (const p of [st.controllerMetricsPort, ...(st.extraControllerMetricsPorts ?? [])]) await portFor(p, 'controller metrics', sd);
  const agentPorts: Record<string, number> = {};
  for (const n of st.nodes) agentPorts[n.name] = await portFor(st.agentMetricsPorts?.[n.name], `agent ${n.name} metrics`, sd);
  st.agentMetricsPorts = agentPorts;
  // TLS always (steps/bus.ts): a tls:// URL makes any client refuse a server without it
  const natsUrls = natsPorts.map((p) => `tls://127.0.0.1:${p}`);
  if (st.registry.kind === 'docker') await portFor(st.registry.port, 'registry', sd);
  return { apiserverPort, natsPorts, natsUrls, natsUrl: natsUrls.join(',') };
}
