/**
 * What an InstanceRunner works with besides its dependencies: the verified library it hands a
 * host, and the host itself as the runner sees it (a ProviderHost of its own, or one in the
 * node's host keeper: agent/keeper/client.ts).
 */
import type { HostStartTimings } from './start-trace.js';

/** What preparing an instance hands its host: a verified library on disk (and, under the membrane, its NATS credentials). */
export interface PreparedBinary {
  libraryPath: string;
  capid: string;
  /** sha256 of the library (its name in the binary store) */
  sha256: string;
  /** A sealed in-memory copy of the library is held by the agent (agent/sealed-libraries.ts): hosts load that. */
  sealed?: boolean;
  /** The instance's own NATS creds file (agent/host-identity.ts), when the agent runs the membrane. */
  natsCredsFile?: string;
  /** The instance's secret config values, opened on this node (agent/secret-config.ts): merged into the host's config only. */
  secretConfig?: Readonly<Record<string, string>>;
  /** Who signed the archive (agent/trust-follow.ts checks it again when trust changes). */
  issuer?: string;
}

/** What a host reports when its process exited unasked (it restarts after `nextDelayMs`). */
export interface HostCrash {
  code?: number | null;
  signal?: string | null;
  restartCount: number;
  nextDelayMs?: number;
  error?: { code: string; message?: string };
}

/** The part of agent/host's ProviderHost the runner relies on. */
export interface SupervisedHost {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly restartCount: number;
  readonly pid?: number;
  /** How the last incarnation started (claimed or forked, steps inside the host). */
  readonly startTimings?: HostStartTimings;
  /** Reconnect with the rewritten creds file without dropping calls (agent/host/renew.ts). */
  renewCredentials?(): Promise<void>;
  on(event: 'spawned', fn: (pid: number) => void): unknown;
  on(event: 'ready', fn: () => void): unknown;
  /** The provider's health check changed readiness (agent/host/health.ts). */
  on(event: 'health', fn: (healthy: boolean, message: string) => void): unknown;
  on(event: 'crash', fn: (e: HostCrash) => void): unknown;
  on(event: 'failed', fn: (e?: unknown) => void): unknown;
  removeAllListeners(): unknown;
}
