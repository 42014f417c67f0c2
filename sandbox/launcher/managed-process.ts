/**
 * A child process the sandbox owns: started with its output appended to a log file, judged
 * started when its port accepts connections, and stopped with SIGTERM then SIGKILL after a
 * grace period. An exit nobody asked for is reported to `onUnexpectedExit` with the log tail,
 * so a crashed part is named rather than silently missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import type { ChildGroup } from './child-group.js';
import { SandboxError } from './errors.js';

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** When set, start() waits until 127.0.0.1:port accepts a connection. */
  port?: number;
  /** Or a custom readiness check, polled until true. */
  ready?: () => Promise<boolean>;
  startTimeoutMs?: number;
  stopGraceMs?: number;
  onUnexpectedExit?: (p: ManagedProcess, code: number | null, signal: NodeJS.Signals | null) => void;
  /** The launcher's set of children: the child carries its marker and is recorded at spawn. */
  group?: ChildGroup;
}

export class ManagedProcess {
  private child?: ChildProcess;
  private stopping = false;
  private exited?: Promise<void>;

  constructor(readonly o: ManagedProcessOptions) {}

  get name(): string {
    return this.o.name;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const fd = openSync(this.o.logFile, 'a');
    const logStart = statSync(this.o.logFile).size;
    let child: ChildProcess;
    try {
      // own process group: a Ctrl-C in the terminal reaches only the launcher, which then stops
      // its children in order instead of all of them dying at once
      const env = this.o.group ? this.o.group.env(this.o.env) : (this.o.env ?? process.env);
      child = spawn(this.o.command, this.o.args, { stdio: ['ignore', fd, fd], env, cwd: this.o.cwd, detached: true });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    // recorded before any wait: a launcher killed while this child starts still names it
    if (child.pid !== undefined) this.o.group?.spawned(this);
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.o.onUnexpectedExit?.(this, code, signal);
        resolve();
      }),
    );
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 20_000);
    for (let i = 0; ; i++) {
      if (spawnError) throw this.failed(`could not start ${this.o.command}: ${spawnError.message}`, logStart);
      if (!this.running) throw this.failed(`exited during start (code ${child.exitCode}, signal ${child.signalCode})`, logStart);
      if (await this.isReady()) return;
      if (Date.now() > deadline || i > 10_000) {
        await this.stop();
        throw this.failed(`not ready after ${this.o.startTimeoutMs ?? 20_000} ms`, logStart);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async isReady(): Promise<boolean> {
    if (this.o.ready) return this.o.ready().catch(() => false);
    if (this.o.port === undefined) return true;
    const port = this.o.port;
    return new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  private failed(why: string, logStart: number): SandboxError {
    return new SandboxError('SANDBOX_PROCESS_FAILED', `${this.o.name} ${why}; log ${this.o.logFile}:\n${this.logTail(logStart)}`);
  }

  /** The last lines the process wrote (since `from`), for error messages. */
  logTail(from = 0, maxBytes = 2000): string {
    try {
      const text = readFileSync(this.o.logFile).subarray(from).toString('utf8');
      return text.slice(-maxBytes).trim();
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL after the grace period. Safe to call twice or before start. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const grace = this.o.stopGraceMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (this.running) child.kill('SIGKILL');
        resolve();
      }, grace);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    await this.exited;
  }
}
