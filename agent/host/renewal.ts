/**
 * Asking a running host process to reconnect with its rewritten creds file (IPC `renew`, main.ts
 * renew) and waiting for its answer: the ms it took, or undefined when the process exited first
 * (its next incarnation reads the new file anyway); a HostError when it could not reconnect.
 */
import type { ChildProcess } from 'node:child_process';
import { HostError, type HostErrorCode } from './errors.js';
import type { FromHost, ToHost } from './ipc.js';

export function requestRenewal(child: ChildProcess): Promise<number | undefined> {
  return new Promise<number | undefined>((resolve, reject) => {
    const onMessage = (m: FromHost) => {
      if (m.type !== 'renewed' && m.type !== 'renew-failed') return;
      done();
      if (m.type === 'renewed') resolve(m.ms);
      else reject(new HostError(m.code as HostErrorCode, m.message));
    };
    const onExit = () => {
      done();
      resolve(undefined);
    };
    const done = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    try {
      child.send({ type: 'renew' } satisfies ToHost);
    } catch {
      onExit();
    }
  });
}
