/**
 * The transparency-log half of `gantry lock`: the checkpoint that included a locked revision,
 * and whether the log still agrees with it. Filled in on the registry log reader (tlog/).
 */
import type { StoreOptions } from '../registry/index.js';

export interface LockedCheckpoint {
  origin: string;
  size: number;
  /** base64 root hash */
  root: string;
  /** the revision's leaf index */
  index: number;
  /** the signed note as stored */
  note: string;
}

export async function checkpointForLock(_ref: string, _opts: StoreOptions, _revision: number, _digest: string, _logKeys: string[]): Promise<LockedCheckpoint | undefined> {
  return undefined;
}

export async function verifyLockedCheckpoint(_ref: string, _opts: StoreOptions, _e: { revision: number; digest: string; checkpoint: LockedCheckpoint }, _logKeys: string[]): Promise<string | undefined> {
  return undefined;
}
