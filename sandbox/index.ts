/**
 * The sandbox's public entry point: a whole Gantry cluster on this machine (launcher/), and
 * what acts on one from outside — its state dir, `down`, `status`. This module and what it
 * loads stay light (no Kubernetes client): the CLI reads the state dir for commands as quick
 * as `gantry call`, and startSandbox loads the launcher only when it is called.
 *
 * The API emulator (apiserver/, a part of its own) and the real control plane (sandbox/controlplane) have
 * their own entry points; demo.ts is a script.
 */
import type { Sandbox, SandboxOptions } from './launcher/sandbox.js';

export { defaultStateDir, DEFAULT_STATE_DIR_NAME } from './launcher/defaults.js';
export { StateDir, type RunRecord, type SandboxState } from './launcher/state-dir.js';
export { SandboxError } from './launcher/errors.js';
export { formatStatus, sandboxStatus, stopRunningSandbox, type DownResult, type SandboxStatus } from './launcher/control.js';
export { nextSteps } from './launcher/next-steps.js';
export type { Sandbox, SandboxOptions } from './launcher/sandbox.js';

/** Start (or resume) the sandbox in `opts.stateDir`; see launcher/sandbox.ts. */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const launcher = await import('./launcher/sandbox.js');
  return launcher.startSandbox(opts);
}
