/**
 * The default state dir: $GANTRY_SANDBOX_DIR, else `.sandbox/` in the repository, so every
 * command (`sandbox up|down|status`, `gantry call`) finds the same sandbox.
 */
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';

export const DEFAULT_STATE_DIR_NAME = '.sandbox';

export function defaultStateDir(): string {
  return process.env.GANTRY_SANDBOX_DIR || join(packageRoot(), DEFAULT_STATE_DIR_NAME);
}
