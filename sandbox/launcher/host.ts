/** The machine facts the sandbox needs (runtime/host.ts), with the sandbox's own error codes. */
import * as host from '../../runtime/host.js';
import { SandboxError } from './errors.js';

export { findExecutable, portIsFree } from '../../runtime/host.js';

export function requireExecutable(name: string, debianPackage: string): string {
  try {
    return host.requireExecutable(name, debianPackage);
  } catch (err) {
    throw new SandboxError('SANDBOX_MISSING_BINARY', (err as Error).message);
  }
}

export async function freePort(): Promise<number> {
  try {
    return await host.freePort();
  } catch {
    throw new SandboxError('SANDBOX_PORT_TAKEN', 'no free loopback port');
  }
}
