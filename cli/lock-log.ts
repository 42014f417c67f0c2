/** What gantry.lock records of a repository's transparency log (filled by cli/log-federation.ts). */
export interface LockedCheckpoint {
  /** the log's origin line */
  origin: string;
  size: number;
  /** base64 root hash of the checkpoint */
  root: string;
  /** the locked revision's leaf index */
  index: number;
  /** the signed note as stored */
  note: string;
}
export { checkpointForLock, verifyLockedCheckpoint } from './log-federation.js';
