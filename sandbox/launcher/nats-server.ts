/**
 * The sandbox's NATS: the Debian `nats-server` on a fixed loopback port (kept across resumes, so
 * callers' URLs stay valid), config in DIR/nats/, log in DIR/logs/nats.log. In operator mode
 * (the membrane) with the full resolver, its account JWTs kept in DIR/nats/jwt/.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from './host.js';
import { ManagedProcess, type ManagedProcessOptions } from './managed-process.js';

export interface NatsServerOptions {
  dir: string;
  port: number;
  logFile: string;
  onUnexpectedExit?: ManagedProcessOptions['onUnexpectedExit'];
  /** Configuration appended to the listen address (the membrane's operator-mode fragment). */
  extraConfig?: string;
  group?: ManagedProcessOptions['group'];
}

export async function startNatsServer(o: NatsServerOptions): Promise<{ url: string; process: ManagedProcess }> {
  const bin = requireExecutable('nats-server', 'nats-server');
  const conf = join(o.dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${o.port}\nmax_payload: 8MB\n${o.extraConfig ?? ''}`, { mode: 0o600 });
  const proc = new ManagedProcess({ name: 'nats-server', command: bin, args: ['-c', conf], logFile: o.logFile, port: o.port, onUnexpectedExit: o.onUnexpectedExit, group: o.group });
  await proc.start();
  return { url: `nats://127.0.0.1:${o.port}`, process: proc };
}
