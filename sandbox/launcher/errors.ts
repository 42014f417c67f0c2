/**
 * Errors the sandbox launcher reports to people. Each carries a stable `code` and the CLI exit
 * status (`exitCode`: 2 for bad input, 1 when the sandbox itself could not be brought up).
 */
export type SandboxErrorCode =
  | 'SANDBOX_BAD_NODE_SPEC'
  | 'SANDBOX_BAD_REGISTRY_KIND'
  | 'SANDBOX_BAD_APISERVER_KIND'
  | 'SANDBOX_ALREADY_RUNNING'
  | 'SANDBOX_NOT_RUNNING'
  | 'SANDBOX_STATE_INVALID'
  | 'SANDBOX_MISSING_BINARY'
  | 'SANDBOX_PROCESS_FAILED'
  | 'SANDBOX_PORT_TAKEN'
  | 'SANDBOX_INTERRUPTED';

export class SandboxError extends Error {
  readonly exitCode: number;
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    exitCode = 1,
  ) {
    super(message);
    this.name = 'SandboxError';
    this.exitCode = exitCode;
  }
}
