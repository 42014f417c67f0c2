/**
 * One run of `gantry sandbox up`, as the start-up steps (steps/) share it: the state dir and
 * the state it keeps, where progress goes, every child started so far, the environment and the
 * ChildGroup they start in, a Ctrl-C noticed during start-up, and the stop that drains them.
 *
 * Every child is recorded the moment it is spawned (ChildGroup), before its readiness wait, so
 * a launcher killed mid-start leaves a run.json the next `up` can reap from, and a Ctrl-C
 * during start-up stops a child whose start had not finished too.
 */
import type { KubeClient } from '../../runtime/kube.js';
import { ChildGroup, killMarked } from './child-group.js';
import { SandboxError } from './errors.js';
import { ManagedProcess, type ManagedProcessOptions } from './managed-process.js';
import type { RunRecord, SandboxState, StateDir } from './state-dir.js';

/** What a step says about a child; the launch supplies its environment, group and exit report. */
export type ChildOptions = Omit<ManagedProcessOptions, 'env' | 'onUnexpectedExit' | 'group'>;

export class Launch {
  /** Children in start order (a restarted child keeps its place). */
  readonly children: ManagedProcess[] = [];
  /** The API server's URL, once it listens. */
  apiUrl = '';
  /** The admin's client, once the API server is up. */
  kube?: KubeClient;
  /** Resolves when stop() has finished (from a signal or a call). */
  readonly stopped: Promise<void>;
  readonly group: ChildGroup;
  readonly env: NodeJS.ProcessEnv = { ...process.env, GANTRY_LOG_LEVEL: process.env.GANTRY_LOG_LEVEL ?? 'info' };
  private stopping?: Promise<void>;
  private resolveStopped!: () => void;
  private interrupted?: NodeJS.Signals;

  constructor(
    readonly sd: StateDir,
    readonly st: SandboxState,
    /** The NATS URL(s), comma-separated: recorded in run.json for `gantry call`. */
    readonly natsUrl: string,
    readonly out?: NodeJS.WritableStream,
  ) {
    this.stopped = new Promise<void>((r) => (this.resolveStopped = r));
    sd.claim(this.record());
    this.group = new ChildGroup(sd.root, (p) => {
      if (!this.children.includes(p)) this.children.push(p); // a restarted child is recorded once
      sd.updateRun(this.record());
    });
  }

  say(line: string): void {
    this.out?.write(line + '\n');
  }

  /** A child of this sandbox: it carries the group's marker and names itself when it dies unasked. */
  child(o: ChildOptions): ManagedProcess {
    return new ManagedProcess({ ...o, env: this.env, onUnexpectedExit: this.unexpected, group: this.group });
  }

  /** How a part that dies unexpectedly is named in the output; the rest keeps running. */
  readonly unexpected = (p: ManagedProcess, code: number | null, signal: NodeJS.Signals | null): void => {
    this.say(
      `! ${p.name} exited unexpectedly (${signal ?? `code ${code}`}); last lines of ${p.o.logFile}:\n` +
        p.logTail().split('\n').slice(-8).join('\n'),
    );
  };

  /** run.json: this launcher and the children it has spawned. */
  record(): RunRecord {
    return {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      apiserverUrl: this.apiUrl,
      natsUrl: this.natsUrl,
      natsCreds: this.sd.adminCreds,
      natsCa: this.sd.natsCa,
      registry: this.st.registry.location,
      children: this.children.filter((c) => c.pid !== undefined).map((c) => ({ name: c.name, pid: c.pid! })),
    };
  }

  get isStopping(): boolean {
    return !!this.stopping;
  }

  /**
   * Stop in reverse start order. The drain phase comes first: agents all at once, then the host
   * keepers (which stop the provider hosts), as a cluster drains its nodes, while NATS is still there; then the
   * controller, the registry, NATS, the API server last.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const agents = this.children.filter((c) => c.name.startsWith('agent-'));
      await Promise.all(agents.map((c) => c.stop().catch(() => {})));
      // the agents left their hosts to the keepers: each keeper stops its node's hosts gracefully
      const keepers = this.children.filter((c) => c.name.startsWith('keeper-'));
      await Promise.all(keepers.map((c) => c.stop().catch(() => {})));
      const drained = [...agents, ...keepers];
      for (const c of this.children.filter((c) => !drained.includes(c)).reverse()) await c.stop().catch(() => {});
      // whatever a child left (a provider host its agent could not stop in time) goes too
      killMarked(this.sd.root);
      this.kube?.close();
      this.sd.release();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** Start a child again after it died, as a cluster restarts a failed pod. */
  async restart(name: string): Promise<void> {
    const c = this.children.find((x) => x.name === name);
    if (!c)
      throw new SandboxError(
        'SANDBOX_NO_SUCH_PART',
        `the sandbox has no part named ${name} (it has ${this.children.map((x) => x.name).join(', ')})`,
      );
    if (this.stopping) throw new SandboxError('SANDBOX_NO_SUCH_PART', `the sandbox is stopping; ${name} is not restarted`);
    if (c.running) throw new SandboxError('SANDBOX_NO_SUCH_PART', `${name} is running (pid ${c.pid}); only a part that died is restarted`);
    await c.start();
    this.sd.updateRun(this.record());
  }

  /** Children by name, with their pid while they run. */
  processes(): Record<string, number | undefined> {
    return Object.fromEntries(this.children.map((c) => [c.name, c.running ? c.pid : undefined]));
  }

  /** From here until unwatchSignals(), SIGINT/SIGTERM are noted; checkInterrupted() then throws. */
  watchSignals(): void {
    process.on('SIGINT', this.onStartupSignal);
    process.on('SIGTERM', this.onStartupSignal);
  }

  unwatchSignals(): void {
    process.off('SIGINT', this.onStartupSignal);
    process.off('SIGTERM', this.onStartupSignal);
  }

  private readonly onStartupSignal = (sig: NodeJS.Signals): void => {
    this.interrupted = sig;
    this.say(`${sig} during start-up: stopping what has started`);
  };

  /** Throws SANDBOX_INTERRUPTED once a signal came during start-up. */
  checkInterrupted(): void {
    if (this.interrupted)
      throw new SandboxError('SANDBOX_INTERRUPTED', `start-up interrupted by ${this.interrupted}; everything started was stopped`);
  }
}
