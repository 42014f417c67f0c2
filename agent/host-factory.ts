/**
 * Where the agent's provider hosts come from: the pool of idle host processes (started after
 * the reaping, they carry the same marker as the hosts a previous agent left, so the next
 * agent reaps them too) and, per instance, the ProviderHost that loads its verified library:
 * its spec from the instance (provider, link, config, resources), the sealed copy of its library
 * when the agent holds one (agent/sealed-libraries.ts), and the NATS connection it
 * serves on, with the agent's credentials or, under the membrane, its instance's own; with
 * --host-cgroup, each host's memory cgroup is made under that directory.
 */
import { parseDurationMs, parseMemoryQuantity, type ProviderInstance } from '../api/index.js';
import { DEFAULT_LINK } from '../client/protocol.js';
import { ProviderHost, type HostSpec } from './host/index.js';
import type { MemoryCgroupParent } from './host/memory-cgroup-dir.js';
import { DEFAULT_HOST_POOL_SIZE, HostPool, hostThreadpoolSize } from './host/pool.js';
import { DEFAULT_LIMITS, type HostLimits } from './host/spec.js';
import type { HostRecords } from './host-records.js';
import type { PreparedBinary } from './instance-runner.js';
import type { AgentOptions } from './options.js';
import type { ProviderCallMetrics } from './call-metrics.js';
import type { SealedLibraries } from './sealed-libraries.js';
import type { KeeperClient, KeeperHost } from './keeper/client.js';

export function createHostPool(records: HostRecords, size = DEFAULT_HOST_POOL_SIZE): HostPool {
  return new HostPool({ size, env: records.markerEnv(), threadpoolSize: hostThreadpoolSize(DEFAULT_LIMITS.maxHungCalls) });
}

/** The agent's NATS settings and how hosts are watched (AgentOptions). */
export type HostFactoryOptions = Pick<AgentOptions, 'natsUrl' | 'nats' | 'membrane' | 'memoryCheckMs' | 'loadReportMs'>;

export function providerHostFactory(
  o: HostFactoryOptions,
  records: HostRecords,
  pool: HostPool,
  memoryCgroup?: MemoryCgroupParent,
  calls?: ProviderCallMetrics,
  libraries?: SealedLibraries,
): (inst: ProviderInstance, prepared: PreparedBinary) => ProviderHost {
  return (inst, prepared) => {
    const memory = inst.spec.resources?.memory;
    // the host's own descriptor on the sealed copy (it closes it when stopped); without one it hashes the file
    const libraryFd = prepared.sealed ? libraries?.descriptorFor(prepared.sha256) : undefined;
    const host = new ProviderHost(providerHostSpec(inst, prepared, o), {
      env: records.markerEnv(),
      pool,
      ...(libraryFd !== undefined ? { libraryFd } : {}),
      ...(memory !== undefined ? { memoryLimitBytes: parseMemoryQuantity(memory) } : {}),
      ...(o.memoryCheckMs !== undefined ? { memoryCheckMs: o.memoryCheckMs } : {}),
      ...(memoryCgroup ? { memoryCgroup } : {}),
    });
    calls?.watch(host);
    return host;
  };
}

/** What the host process is told to load and serve. */
export function providerHostSpec(inst: ProviderInstance, prepared: PreparedBinary, o: Omit<HostFactoryOptions, 'memoryCheckMs'>): HostSpec {
  const limits = hostLimits(inst);
  return {
    libraryPath: prepared.libraryPath,
    librarySha256: prepared.sha256,
    expectedCapid: prepared.capid,
    namespace: inst.metadata.namespace ?? 'default',
    provider: inst.spec.provider,
    instance: inst.metadata.name,
    linkName: inst.spec.linkName ?? DEFAULT_LINK,
    // the opened secret values join the config here only: the spec travels over the host's IPC channel, never env or argv
    config: prepared.secretConfig ? { ...inst.spec.config, ...prepared.secretConfig } : inst.spec.config,
    ...(prepared.secretConfig ? { secretKeys: Object.keys(prepared.secretConfig) } : {}),
    nats: o.membrane
      ? { tls: o.nats?.tls, connectTimeoutMs: o.nats?.connectTimeoutMs, servers: o.natsUrl, credsFile: prepared.natsCredsFile }
      : { ...o.nats, servers: o.natsUrl },
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(inst.spec.health ? { health: inst.spec.health } : {}),
    ...(o.loadReportMs !== undefined ? { loadReportMs: o.loadReportMs } : {}),
  };
}

/** The instance's resources.* over the host's defaults (the API server checked the patterns, CRD). */
function hostLimits(inst: ProviderInstance): HostLimits {
  const res = inst.spec.resources;
  return {
    ...(res?.maxInFlight !== undefined ? { maxInFlight: res.maxInFlight } : {}),
    ...(res?.callTimeout !== undefined ? { callTimeoutMs: parseDurationMs(res.callTimeout) } : {}),
  };
}

/**
 * Hosts run by the node's host keeper (agent/keeper/): the same spec, but the process is the
 * keeper's child, so it outlives this agent. The host hashes the library file itself (a sealed
 * descriptor does not cross into the keeper's pod) and the keeper enforces the memory cap.
 */
export function keeperHostFactory(
  o: HostFactoryOptions,
  keeper: KeeperClient,
  calls?: ProviderCallMetrics,
): (inst: ProviderInstance, prepared: PreparedBinary) => KeeperHost {
  return (inst, prepared) => {
    const memory = inst.spec.resources?.memory;
    const host = keeper.host(inst.metadata.uid ?? '', providerHostSpec(inst, prepared, o), {
      ...(memory !== undefined ? { memoryLimitBytes: parseMemoryQuantity(memory) } : {}),
      ...(o.memoryCheckMs !== undefined ? { memoryCheckMs: o.memoryCheckMs } : {}),
    });
    calls?.watch(host);
    return host;
  };
}
