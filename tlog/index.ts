/**
 * The transparency log of a repository's published revisions (docs/transparency.md):
 * RFC 6962 Merkle trees, C2SP signed notes and checkpoints, the canonical entry encoding, and
 * the log as stored in an OCI registry next to the archives.
 */
export * from './errors.js';
export * from './merkle.js';
export * from './note.js';
export * from './checkpoint.js';
export * from './entry.js';
export * from './origin-keys.js';
export { decodeBase64, encodeBase64, toHex, fromHex } from './base64.js';
export * from './log/index.js';
export * as tiles from './tiles/index.js';
export * from './sequencer/index.js';
