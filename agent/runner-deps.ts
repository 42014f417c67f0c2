/**
 * What an InstanceRunner works with on a real node: preparing an instance is the archive
 * pipeline (agent/archive-pipeline.ts) and, under the membrane, the host identity made on this
 * node and signed by the controller (agent/host-identity.ts), whose creds file travels with the
 * prepared library to its host; hosts come
 * from agent/host-factory.ts, their pids go to the host records, status to the status writer.
 */
import { join } from 'node:path';
import type { KeyPair } from '@nats-io/nkeys';
import type { ProviderInstance } from '../api/index.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { type PipelineOptions, prepareBinary } from './archive-pipeline.js';
import { InstanceFailure } from './failure.js';
import { HostIdentities } from './host-identity.js';
import type { AgentTrust } from './trust-follow.js';
import type { PreparedBinary, RunnerDeps } from './instance-runner.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeCache } from './node-cache.js';
import type { AgentOptions } from './options.js';
import { RegistryAccess } from './registry-access.js';
import { instanceSecretConfig } from './secret-config.js';
import type { StatusWriter } from './status.js';

export interface AgentRunnerParts {
  kube: KubeClient;
  /** Where the instances' sealed pull credentials and secret config are. */
  credentialsNamespace: string;
  target: string;
  cache: NodeCache;
  /** This node's seal key: opens the pull credentials the controller sealed to it. */
  sealKey: KeyPair;
  createHost: RunnerDeps['createHost'];
  status: StatusWriter;
  metrics: AgentMetrics;
  log: Logger;
  /** The trust policy watched at run time (--trust-configmap), in force instead of the flags. */
  trust?: AgentTrust;
  /** The instance as the informer has it now (conditions the runner does not own are kept). */
  current?: (namespace: string, name: string) => ProviderInstance | undefined;
  /** With a host keeper: whether it already runs a ready host for the instance uid. */
  adoptable?: (uid: string) => boolean;
}

export function agentRunnerDeps(
  opts: Pick<
    AgentOptions,
    'trustedIssuers' | 'plainHttpRegistries' | 'maxArchiveBytes' | 'transferLimits' | 'membrane' | 'membraneAccount' | 'hostKeeper'
  >,
  p: AgentRunnerParts,
): RunnerDeps {
  const { kube, credentialsNamespace, cache, log, metrics, status } = p;
  const pipeline: PipelineOptions = {
    kube,
    credentialsNamespace,
    sealKey: p.sealKey,
    cache: cache.archives,
    binaries: cache.binaries,
    sealed: cache.sealed,
    access: new RegistryAccess(),
    target: p.target,
    trustedIssuers: opts.trustedIssuers ?? [],
    trust: p.trust,
    plainHttpRegistries: opts.plainHttpRegistries ?? [],
    maxArchiveBytes: opts.maxArchiveBytes,
    transferLimits: opts.transferLimits,
    metrics,
  };
  const identities = opts.membrane
    ? new HostIdentities({ kube, dir: join(cache.dir, 'host-keys'), account: opts.membraneAccount, log })
    : undefined;
  return {
    status,
    log,
    metrics,
    prepare: async (inst, onPhase, onStep): Promise<PreparedBinary> => {
      // the host identity (key published, JWT signed by the controller) is made while the archive
      // is fetched and verified, not after; a refused archive is still the reason reported
      const creds = identities?.credsFor(inst);
      creds?.catch(() => {}); // awaited below, after the pipeline's own failure
      const prepared = await prepareBinary(pipeline, inst, onPhase, onStep);
      // read after the pull, so the host starts with the values sealed last; no host without them
      const secretConfig = await instanceSecretConfig(kube, credentialsNamespace, p.sealKey, inst);
      const binary = secretConfig ? { ...prepared, secretConfig } : prepared;
      // the last check before a host starts: trust may have narrowed during the awaits above
      const untrusted = p.trust?.untrusted(inst, prepared.issuer);
      if (untrusted) throw new InstanceFailure('UntrustedIssuer', untrusted);
      if (!creds) return binary;
      const natsCredsFile = await creds;
      onStep?.('hostJwt');
      return { ...binary, natsCredsFile };
    },
    credentials: identities,
    current: p.current ? (ref) => p.current?.(ref.namespace, ref.name) : undefined,
    adoptable: p.adoptable,
    // a host restarts from its own descriptor on the sealed copy, which cannot change; else from the file
    libraryIntact: (binary) => binary.sealed === true || cache.binaries.intact(binary.sha256),
    createHost: p.createHost,
    recordPid: (inst: ProviderInstance, pid) => {
      if (opts.hostKeeper) return; // the keeper's children: no agent may reap them
      const uid = inst.metadata.uid ?? '';
      if (pid) cache.records.write({ uid, namespace: inst.metadata.namespace ?? 'default', name: inst.metadata.name, pid });
      else cache.records.remove(uid);
    },
  };
}
