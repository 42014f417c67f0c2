/**
 * The one place library errors become exit statuses: 0 ok, 1 the thing asked about failed,
 * 2 a usage error, 3 an unexpected internal error. Library code throws typed errors
 * (runtime/errors.ts's GantryError and UsageError, ParError, RegistryError, CallError, …) and
 * never knows about exit statuses; the CLI's own errors may carry an `exitCode`.
 */
import { GantryError } from '../runtime/errors.js';

export function exitStatus(err: unknown): number {
  if (err instanceof GantryError) return err.usage ? 2 : 1;
  const own = (err as { exitCode?: unknown })?.exitCode;
  return typeof own === 'number' ? own : 3;
}
