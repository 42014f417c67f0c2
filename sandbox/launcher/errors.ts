/**
 * Errors the sandbox launcher reports to people. Each carries a stable `code`, and is a usage
 * error (bad input; the CLI exits 2) or not (the sandbox itself could not be brought up; 1).
 */
import { GantryError } from '../../runtime/errors.js';

export type SandboxErrorCode =
  | 'SANDBOX_BAD_NODE_SPEC'
  | 'SANDBOX_BAD_REGISTRY_KIND'
  | 'SANDBOX_BAD_APISERVER_KIND'
  | 'SANDBOX_BAD_COUNT'
  | 'SANDBOX_NO_SUCH_PART'
  | 'SANDBOX_ALREADY_RUNNING'
  | 'SANDBOX_NOT_RUNNING'
  | 'SANDBOX_STATE_INVALID'
  | 'SANDBOX_MISSING_BINARY'
  | 'SANDBOX_PROCESS_FAILED'
  | 'SANDBOX_PORT_TAKEN'
  | 'SANDBOX_INTERRUPTED';

export class SandboxError extends GantryError {
  override name = 'SandboxError';
  declare readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string, kind: 'usage' | 'failure' = 'failure') {
    super(code, message, { usage: kind === 'usage' });
  }
}
