/**
 * Why a provider host could not start or keep running. Codes are stable: the agent copies
 * them into ProviderInstance status reasons, and the host process uses them on its IPC channel.
 */
export const HostErrorCodes = [
  'BAD_SPEC', // the HostSpec given to the host process is invalid
  'LIBRARY_HASH_MISMATCH', // the library file does not hash to the verified SHA-256 (swapped or altered after verification)
  'LIBRARY_NOT_SEALED', // the library descriptor the agent handed over is not memory sealed against write, grow and shrink (memfd-seal.ts)
  'LOAD_FAILED', // dlopen failed: missing file, not a shared library, wrong architecture, missing symbol deps
  'NOT_A_PROVIDER', // the library has no __capability_provider_create or it returned NULL
  'ABI_MISMATCH', // the table's abi_version is not the one this host speaks
  'ABI_FLAGS_UNKNOWN', // the table sets flag bits this host does not know (they may change its layout)
  'ABI_EXTENSIONS_INVALID', // the table announces extensions with an ext_size no real table has
  'CAPID_MISMATCH', // capability_id() differs from the archive's capid
  'CONFIG_REJECTED', // configure() refused the instance configuration
  'DISPATCH_REJECTED', // configure_dispatch() returned an error
  'NATS_UNAVAILABLE', // could not connect or subscribe to NATS (refused, unreachable, timed out)
  'NATS_AUTH_FAILED', // the NATS server refused the host's credentials, or they are unusable (bad seed, unreadable creds)
  'NATS_TLS_FAILED', // the TLS handshake with NATS failed (unknown CA, bad or missing certificate)
  'CRASHED', // the host process died before it was ready (signal or unexpected exit)
  'HUNG', // the provider's calls keep hanging; the host gave up on itself
  'START_TIMEOUT', // the host process did not become ready in time
  'STOPPED', // stop() was called before the host became ready
  'OOM_KILLED', // the host used more memory than its instance's resources.memory; the agent (RSS poll) or the kernel (memory cgroup) killed it
  'MEMORY_CGROUP_FAILED', // the host's memory cgroup could not be made or limited (--host-cgroup); it is not run unlimited
  'LIVENESS_FAILED', // the provider's health check failed failureThreshold times in a row; the host is restarted
] as const;
export type HostErrorCode = (typeof HostErrorCodes)[number];

export class HostError extends Error {
  override name = 'HostError';
  constructor(
    readonly code: HostErrorCode | string,
    message: string,
  ) {
    super(message);
  }
}

/** Load-time errors: restarting cannot fix them, so the supervisor does not retry. */
export const TERMINAL_CODES: ReadonlySet<string> = new Set([
  'BAD_SPEC',
  'LIBRARY_HASH_MISMATCH',
  'LIBRARY_NOT_SEALED',
  'LOAD_FAILED',
  'NOT_A_PROVIDER',
  'ABI_MISMATCH',
  'ABI_FLAGS_UNKNOWN',
  'ABI_EXTENSIONS_INVALID',
  'CAPID_MISMATCH',
  'CONFIG_REJECTED',
  'DISPATCH_REJECTED',
  // a restart meets the same directory: the instance fails (and its reconcile is retried with backoff)
  'MEMORY_CGROUP_FAILED',
]);

/** Exit statuses of the host process, so the supervisor knows why it ended without IPC. */
export const HostExit = {
  STOPPED: 0, // stopped on request (SIGTERM or IPC stop)
  TERMINAL: 70, // a terminal load error, reported over IPC first
  RESTARTABLE: 71, // NATS lost for good, or other retryable failure
  HUNG: 72, // too many calls stuck past their timeout
  ORPHANED: 73, // the parent went away
  LIVENESS_FAILED: 74, // failureThreshold health checks failed in a row
} as const;
