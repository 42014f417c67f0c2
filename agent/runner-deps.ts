/**
 * What an InstanceRunner works with on a real node: preparing an instance is the archive
 * pipeline (agent/archive-pipeline.ts) and, under the membrane, reading its NATS credentials
 * (agent/instance-creds.ts), which travel with the prepared library to its host; hosts come
 * from agent/host-factory.ts, their pids go to the host records, status to the status writer.
 */
import { join } from 'node:path';
import type { ProviderInstance } from '../api/index.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { type PipelineOptions, prepareBinary } from './archive-pipeline.js';
import { instanceCreds } from './instance-creds.js';
import type { PreparedBinary, RunnerDeps } from './instance-runner.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeCache } from './node-cache.js';
import type { AgentOptions } from './options.js';
import { RegistryAccess } from './registry-access.js';
import type { StatusWriter } from './status.js';

export interface AgentRunnerParts {
  kube: KubeClient;
  /** The Gantry namespace: the instances' pull credentials and NATS credentials are there. */
  namespace: string;
  target: string;
  cache: NodeCache;
  createHost: RunnerDeps['createHost'];
  status: StatusWriter;
  metrics: AgentMetrics;
  log: Logger;
}

export function agentRunnerDeps(
  opts: Pick<AgentOptions, 'trustedIssuers' | 'plainHttpRegistries' | 'maxArchiveBytes' | 'transferLimits' | 'membrane'>,
  p: AgentRunnerParts,
): RunnerDeps {
  const { kube, namespace, cache, log, metrics, status } = p;
  const pipeline: PipelineOptions = {
    kube,
    namespace,
    cache: cache.archives,
    binaries: cache.binaries,
    access: new RegistryAccess(),
    target: p.target,
    trustedIssuers: opts.trustedIssuers ?? [],
    plainHttpRegistries: opts.plainHttpRegistries ?? [],
    maxArchiveBytes: opts.maxArchiveBytes,
    transferLimits: opts.transferLimits,
    metrics,
  };
  const credsDir = join(cache.dir, 'creds');
  return {
    status,
    log,
    metrics,
    prepare: async (inst, onPhase, onStep): Promise<PreparedBinary> => {
      const binary = await prepareBinary(pipeline, inst, onPhase, onStep);
      return opts.membrane ? { ...binary, natsCredsFile: await instanceCreds(kube, namespace, credsDir, inst) } : binary;
    },
    libraryIntact: (binary) => cache.binaries.intact(binary.sha256),
    createHost: p.createHost,
    recordPid: (inst: ProviderInstance, pid) => {
      const uid = inst.metadata.uid ?? '';
      if (pid) cache.records.write({ uid, namespace: inst.metadata.namespace ?? 'default', name: inst.metadata.name, pid });
      else cache.records.remove(uid);
    },
  };
}
