/**
 * What may live inside a PAR: exactly one `claims.jwt`, one `<arch>-<os>.bin` per target and
 * an optional `world.wasm`. Names are flat: no directories, no path tricks, no other files.
 * The arch and os vocabularies are the ones wasmCloud tools have written.
 */
import { ParError } from './errors.js';

export const CLAIMS_ENTRY = 'claims.jwt';
export const WORLD_TARGET = 'world.wasm';

export const ARCHES = ['x86', 'x86_64', 'arm', 'aarch64', 'mips', 'mips64', 'powerpc64le', 's390x', 'riscv64'] as const;
export const OSES = ['linux', 'macos', 'ios', 'freebsd', 'android', 'windows'] as const;

/** True for `<arch>-<os>` targets with known arch and os, and for `world.wasm`. */
export function isValidTarget(target: string): boolean {
  if (target === WORLD_TARGET) return true;
  const dash = target.lastIndexOf('-');
  if (dash <= 0) return false;
  return (ARCHES as readonly string[]).includes(target.slice(0, dash)) && (OSES as readonly string[]).includes(target.slice(dash + 1));
}

export function assertValidTarget(target: string): void {
  if (!isValidTarget(target)) {
    throw new ParError(
      'PAR_BAD_TARGET',
      `invalid target ${JSON.stringify(target)}: expected <arch>-<os> (arch one of ${ARCHES.join(', ')}; os one of ${OSES.join(', ')}) or ${WORLD_TARGET}`,
    );
  }
}

/** The archive member that holds a target's bytes. */
export function entryNameForTarget(target: string): string {
  return target === WORLD_TARGET ? WORLD_TARGET : `${target}.bin`;
}

export type EntryKind = { kind: 'claims' } | { kind: 'binary'; target: string };

/**
 * Classifies a member name, refusing anything that is not a flat, known PAR member. The checks
 * run before any of the member's bytes are read.
 */
export function classifyEntry(name: string): EntryKind {
  const shown = JSON.stringify(name);
  if (name.length === 0) throw new ParError('PAR_BAD_ENTRY', 'archive has an entry with an empty name');
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
    throw new ParError('PAR_BAD_ENTRY', `entry ${shown} is an absolute path`);
  }
  if (name.includes('/') || name.includes('\\')) {
    throw new ParError('PAR_BAD_ENTRY', `entry ${shown} has a path separator; PAR members are flat files`);
  }
  if (name === '.' || name === '..' || name.includes('..')) throw new ParError('PAR_BAD_ENTRY', `entry ${shown} contains ".."`);
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    throw new ParError('PAR_BAD_ENTRY', `entry ${shown} has characters not allowed in a PAR member name`);
  if (name === CLAIMS_ENTRY) return { kind: 'claims' };
  if (name === WORLD_TARGET) return { kind: 'binary', target: WORLD_TARGET };
  if (name.endsWith('.bin')) {
    const target = name.slice(0, -4);
    if (isValidTarget(target) && target !== WORLD_TARGET) return { kind: 'binary', target };
  }
  throw new ParError('PAR_BAD_ENTRY', `unknown entry ${shown}: a PAR holds only ${CLAIMS_ENTRY}, <arch>-<os>.bin and ${WORLD_TARGET}`);
}
