/**
 * One ProviderInstance on this node, from "should run here" to "stopped": a small state
 * machine that walks Fetching → Verifying → Starting → Running, or ends in Failed with a
 * reason from agent/failure.ts, and reports each step through the status writer.
 *
 *   Fetching   pull the archive by digest through the cache (with the instance's pull secrets)
 *   Verifying  signature, trusted issuer, the hash of this node's target, capid; extract the
 *              binary to the content-addressed store
 *   Starting   a ProviderHost process loads the library (ABI version and capid are checked
 *              there); after a host crash the instance is back here while the host backs off
 *   Running    the host is Ready and serving NATS
 *   Failed     terminal for this instance object: nothing is loaded
 *
 * Transient fetch failures (registry down, bad credentials that may be fixed) are retried
 * with capped exponential backoff; everything about the archive itself is final. Crash
 * restarts are the ProviderHost's own supervision; the runner turns its events into status
 * (`restartCount` keeps counting across agent restarts by starting from the count already
 * in status) and, during each crash backoff, checks that the library the restarted host will
 * load still hashes to its name, re-verifying the archive and rewriting it when it does not.
 */
import type { InstanceReason } from '../api/reasons.js';
import type { ProviderInstance } from '../api/index.js';
import type { Logger } from '../runtime/log.js';
import { classify, type InstanceFailure } from './failure.js';
import type { AgentMetrics } from './metrics.js';
import { redactSecrets } from './secret-config.js';
import { transition, type Condition } from '../runtime/toolkit/conditions.js';
import { keyOf } from '../runtime/toolkit/keys.js';
import { kubeTime } from '../runtime/toolkit/time.js';
import type { InstancePhase, InstanceRef, StatusWriter } from './status.js';
import { AttemptClock, epochNow, type StartTimeline, StartTrace } from './start-trace.js';

export type { StartTimeline } from './start-trace.js';
export type { HostCrash, PreparedBinary, SupervisedHost } from './runner-types.js';
import type { HostCrash, PreparedBinary, SupervisedHost } from './runner-types.js';

/** Retryable reasons that only wait for something the controller writes for this instance. */
const WAITS_ON_CONTROLLER: ReadonlySet<string> = new Set(['ConfigPending', 'CredentialsPending']);

/** The reason a crash restart is reported with: what the host said it died of, where that has a name. */
function crashReason(code: string | undefined): InstanceReason {
  if (code === 'OOM_KILLED') return 'OOMKilled';
  if (code === 'LIVENESS_FAILED') return 'LivenessFailed';
  return 'CrashLoopBackOff';
}

export interface RunnerDeps {
  /** Fetch + verify + extract; `onPhase` reports progress within the pipeline, `onStep` finer steps (timeline). */
  prepare(
    instance: ProviderInstance,
    onPhase: (phase: 'Fetching' | 'Verifying') => void,
    onStep?: (step: string) => void,
  ): Promise<PreparedBinary>;
  createHost(instance: ProviderInstance, binary: PreparedBinary): SupervisedHost;
  /** Whether the prepared library on disk still hashes to the sha256 it was verified as. */
  libraryIntact(binary: PreparedBinary): boolean;
  status: StatusWriter;
  /** The host's pid changed (started or restarted), or it is gone (undefined). */
  recordPid(instance: ProviderInstance, pid: number | undefined): void;
  log: Logger;
  metrics?: AgentMetrics;
  /** Under the membrane, the host identities made on this node (agent/host-identity.ts). */
  credentials?: HostCredentialsSource;
  /** The instance as the agent's informer has it now: its conditions of other types (the controller's) are kept. */
  current?(ref: InstanceRef): ProviderInstance | undefined;
  /** Whether the node's host keeper already runs a ready host for this instance uid (an agent restart: it is adopted). */
  adoptable?(uid: string): boolean;
  /** Retry bounds for retryable failures (default 2 s … 60 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** The part of agent/host-identity.ts the runner relies on. */
export interface HostCredentialsSource {
  /** An instance as the informer now has it (a new host JWT, a refusal). */
  observe(instance: ProviderInstance): void;
  watch(instance: ProviderInstance, onRenewed: () => void): () => void;
  refused(instance: ProviderInstance, why: string): void;
  forget(ref: { uid: string }): void;
}

export class InstanceRunner {
  readonly ref: InstanceRef;
  private phase: InstancePhase = 'Pending';
  private conditions: Condition[];
  private host?: SupervisedHost;
  private stopping = false;
  private retryTimer?: NodeJS.Timeout;
  private attempts = 0;
  private readonly baseRestarts: number;
  private run?: Promise<void>;
  private unwatchCredentials?: () => void;
  private startedAt?: string;
  private lastTermination?: { reason: InstanceReason; message: string; at: string };
  /** The opened secret config values: never in a status message or log line (a provider's error may quote them). */
  private secrets?: Readonly<Record<string, string>>;
  private readonly log: Logger;
  /** the first start's timeline (see StartTimeline) */
  readonly timeline: StartTimeline = { marks: [] };
  /** claim → Running or Failed as a trace (agent/start-trace.ts), and the attempt it is timing */
  private trace?: StartTrace;
  private clock?: AttemptClock;
  private adopting = false;
  issuer?: string; // who signed the archive the host loads (agent/trust-follow.ts)

  constructor(
    readonly instance: ProviderInstance,
    private readonly deps: RunnerDeps,
  ) {
    const m = instance.metadata;
    this.ref = { namespace: m.namespace ?? 'default', name: m.name, uid: m.uid ?? '' };
    this.conditions = (instance.status?.conditions as Condition[] | undefined) ?? [];
    this.baseRestarts = instance.status?.restartCount ?? 0;
    this.lastTermination = instance.status?.lastTermination as typeof this.lastTermination;
    this.log = deps.log.child({ instance: keyOf(this.ref) });
  }

  get currentPhase(): InstancePhase {
    return this.phase;
  }

  get pid(): number | undefined {
    return this.host?.pid;
  }

  get restartCount(): number {
    return this.baseRestarts + (this.host?.restartCount ?? 0);
  }

  start(): void {
    if (this.run) return;
    this.timeline.marks.push(['runner', epochNow()]);
    this.trace = new StartTrace(this.instance);
    this.run = this.attempt();
  }

  private async attempt(): Promise<void> {
    // a host the keeper still runs serves all along: the steps up to adopting it are not a fall from Running
    this.adopting = this.attempts === 0 && this.deps.adoptable?.(this.ref.uid) === true;
    if (this.adopting) this.startedAt ??= this.instance.status?.startedAt as string | undefined; // the same host, started then
    const clock = new AttemptClock(this.attempts === 0 ? this.timeline : undefined);
    this.clock = clock;
    const binary = await this.prepare(clock);
    if (!binary || this.stopping) return;
    ({ secretConfig: this.secrets, issuer: this.issuer } = binary);
    clock.step('Starting');
    this.report('Starting', 'Loading', `loading ${binary.libraryPath}`);
    const host = this.deps.createHost(this.instance, binary);
    this.host = host;
    // recorded at fork, not at ready: an agent killed while its host starts leaves a record
    host.on('spawned', (pid) => this.deps.recordPid(this.instance, pid));
    host.on('ready', () => this.hostReady(host, clock));
    host.on('crash', (e) => this.hostCrashed(host, binary, e));
    host.on('health', (healthy, message) => this.hostHealth(host, healthy, message));
    this.unwatchCredentials?.();
    this.unwatchCredentials = this.deps.credentials?.watch(this.instance, () => {
      host.renewCredentials?.().catch((err) => this.log.warn({ err: (err as Error).message }, 'host credential renewal failed'));
    });
    await this.startHost(host);
  }

  /** Fetching → Verifying: the verified library, or undefined once the failure is reported. */
  private async prepare(clock: AttemptClock): Promise<PreparedBinary | undefined> {
    try {
      return await this.deps.prepare(
        this.instance,
        (phase) => {
          clock.step(phase);
          this.report(phase, phase === 'Fetching' ? 'Pulling' : 'Verifying', `${phase.toLowerCase()} ${this.instance.spec.archive.digest}`);
        },
        clock.mark,
      );
    } catch (err) {
      const f = classify(err, this.phase === 'Verifying' ? 'verify' : 'fetch');
      this.fail(f, 'Fetching');
      return undefined;
    }
  }

  private hostReady(host: SupervisedHost, clock: AttemptClock): void {
    if (this.stopping) return;
    this.deps.recordPid(this.instance, host.pid);
    const firstRunning = clock.sinceStart.Running === undefined;
    if (firstRunning) {
      clock.step('Running');
      this.timeline.host = host.startTimings;
      this.trace?.running(clock, host.startTimings);
      const msSinceStart = Object.fromEntries(Object.entries(clock.sinceStart).map(([k, v]) => [k, Math.round(v)]));
      this.log.info({ msSinceStart }, 'instance running');
    }
    const written = this.report('Running', 'HostReady', `serving (host pid ${host.pid ?? '?'})`);
    if (firstRunning) void written.then(() => clock.mark('statusWritten'));
  }

  /** Unhealthy: still Running (the host is up), but Ready=False and out of its queue groups. */
  private hostHealth(host: SupervisedHost, healthy: boolean, message: string): void {
    if (this.stopping) return;
    if (healthy) void this.report('Running', 'HostReady', `serving (host pid ${host.pid ?? '?'})`);
    else void this.report('Running', 'ProviderUnhealthy', `the provider reports itself unhealthy: ${message}`, 'False');
  }

  private hostCrashed(host: SupervisedHost, binary: PreparedBinary, e: HostCrash): void {
    if (this.stopping) return;
    const how = e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
    this.deps.metrics?.hostRestarts.inc({ reason: e.error?.code ?? 'CRASHED', exit_kind: e.signal ? 'signal' : 'status' });
    this.log.warn({ how, restartCount: this.restartCount, nextDelayMs: e.nextDelayMs }, 'provider host crashed');
    // NATS refused the host's credentials (revoked, expired): a new key heals it, no human needed
    if (e.error?.code === 'NATS_AUTH_FAILED') this.deps.credentials?.refused(this.instance, e.error.message ?? 'NATS_AUTH_FAILED');
    const reason = crashReason(e.error?.code);
    const what = reason === 'CrashLoopBackOff' ? `host exited with ${how}` : (e.error?.message ?? reason);
    this.lastTermination = { reason, message: what, at: kubeTime() };
    this.report('Starting', reason, `${what}; restarting in ${e.nextDelayMs ?? 0} ms`);
    // the restarted host loads the library from disk again. Its name is the signed hash, so a
    // file that still hashes to it is the verified library; only one changed since the last
    // start needs the archive re-verified and the library rewritten during the backoff
    if (!this.deps.libraryIntact(binary)) this.reverify(host, binary);
  }

  /** The library on disk changed: prepare it again, and stop the host if the archive no longer verifies. */
  private reverify(host: SupervisedHost, binary: PreparedBinary): void {
    this.deps
      .prepare(this.instance, () => {})
      .then(
        (again) => {
          if (again.libraryPath !== binary.libraryPath)
            this.log.warn({ libraryPath: again.libraryPath }, 'library path changed on re-verification');
        },
        (err) => {
          if (this.stopping) return;
          const f = classify(err, 'verify');
          if (f.retryable) return; // registry unreachable: the library on disk was verified at start
          this.log.error({ reason: f.reason, err: f.message }, 'archive no longer verifies; stopping the host');
          void host.stop().finally(() => {
            this.deps.recordPid(this.instance, undefined);
            this.fail(f, 'Starting');
          });
        },
      );
  }

  /** Starting: the host's first start; a later give-up (after crash restarts) arrives as 'failed'. */
  private async startHost(host: SupervisedHost): Promise<void> {
    let firstStartSettled = false;
    host.on('failed', (e) => {
      // a failure of the first start is reported through start()'s rejection below
      if (this.stopping || !firstStartSettled) return;
      this.deps.recordPid(this.instance, undefined);
      this.fail(classify(e ?? new Error('provider host gave up'), 'start'), 'Starting');
    });
    try {
      await host.start();
      firstStartSettled = true;
    } catch (err) {
      firstStartSettled = true;
      if (this.stopping) return;
      await host.stop().catch(() => {});
      this.deps.recordPid(this.instance, undefined);
      return this.fail(classify(err, 'start'), 'Starting');
    }
  }

  /** `stage` is where a retryable failure leaves the instance while it waits to retry. */
  private fail(failure: InstanceFailure, stage: 'Fetching' | 'Starting'): void {
    if (this.stopping) return;
    const f = { reason: failure.reason, retryable: failure.retryable, message: redactSecrets(failure.message, this.secrets) };
    const reason = f.reason;
    this.trace?.failed(this.clock, f);
    this.deps.metrics?.instanceFailures.inc({ reason });
    if (reason === 'NatsAuthFailed') this.deps.credentials?.refused(this.instance, f.message);
    if (f.retryable) {
      // waiting on the controller's write (the sealed Secret made right after the instance) is
      // usually over in milliseconds: look again soon, then back off as for any failure
      const base = this.deps.retryMinMs ?? 2_000;
      const min = WAITS_ON_CONTROLLER.has(reason) ? Math.min(base, 200) : base;
      const delay = Math.min(this.deps.retryMaxMs ?? 60_000, min * 2 ** Math.min(this.attempts++, 10));
      this.log.warn({ reason, err: f.message, delayMs: delay }, 'instance not started; retrying');
      // still trying: stay in the phase that failed, but say why and when
      this.report(stage, reason, `${f.message} (retrying in ${delay < 1000 ? `${delay} ms` : `${Math.round(delay / 1000)} s`})`, 'False');
      this.retryTimer = setTimeout(() => {
        this.run = this.attempt();
      }, delay);
      return;
    }
    this.log.warn({ reason, err: f.message }, 'instance failed');
    this.report('Failed', reason, f.message, 'False');
  }

  private report(
    phase: InstancePhase,
    reason: InstanceReason,
    message: string,
    ready: 'True' | 'False' = phase === 'Running' ? 'True' : 'False',
  ): Promise<void> {
    this.phase = phase;
    if (this.adopting && (reason === 'Pulling' || reason === 'Verifying' || reason === 'Loading')) return Promise.resolve();
    this.adopting = false;
    // every status message passes here: none quotes a secret config value (the host redacts its own too)
    message = redactSecrets(message, this.secrets);
    const lastTermination = this.lastTermination && {
      ...this.lastTermination,
      message: redactSecrets(this.lastTermination.message, this.secrets),
    };
    const gen = this.instance.metadata.generation;
    // the controller's conditions (HostCredentials) are kept: a merge patch replaces the whole list
    const others = ((this.deps.current?.(this.ref)?.status?.conditions ?? []) as Condition[]).filter((c) => c.type !== 'Ready');
    this.conditions = [
      ...others,
      transition(this.conditions, {
        type: 'Ready',
        status: ready,
        reason,
        message,
        ...(gen !== undefined ? { observedGeneration: gen } : {}),
      }),
    ];
    return this.deps.status.write(this.ref, {
      phase,
      reason,
      message,
      restartCount: this.restartCount,
      ...(gen !== undefined ? { observedGeneration: gen } : {}),
      ...(phase === 'Running' ? { startedAt: (this.startedAt ??= kubeTime()) } : {}),
      ...(lastTermination ? { lastTermination } : {}),
      conditions: this.conditions,
    });
  }

  /** Trust narrowed at run time (agent/trust-follow.ts): fail closed, the host stopped and the instance Failed with `failure`. */
  revoke(failure: InstanceFailure): void {
    if (this.stopping || this.phase === 'Failed') return;
    const host = this.host;
    this.host = undefined;
    this.issuer = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    host?.removeAllListeners();
    void Promise.resolve(host?.stop())
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'host stop failed'))
      .finally(() => {
        this.deps.recordPid(this.instance, undefined);
        this.fail(failure, 'Starting');
      });
  }

  /**
   * Stop the host gracefully. `why` says what to report first: the instance is being
   * deleted (Terminating), or the agent itself is shutting down (back to Pending, so status
   * never claims Running for a host that is gone); nothing when the instance has vanished, or
   * when the agent detaches from a host keeper (the host keeps serving; the next agent adopts it).
   */
  async stop(why: 'deleting' | 'agent-stopping' | 'agent-detaching' | 'gone'): Promise<void> {
    if (this.stopping) return;
    if (why === 'deleting') this.report('Terminating', 'Deleting', 'stopping the provider host');
    if (why === 'agent-stopping')
      this.report('Pending', 'AgentStopped', 'the node agent stopped; it restarts this instance when it comes back');
    this.stopping = true;
    this.trace?.stopped();
    this.unwatchCredentials?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const host = this.host;
    if (host) {
      await host.stop().catch((err) => this.log.warn({ err: (err as Error).message }, 'host stop failed'));
      host.removeAllListeners();
    }
    this.deps.recordPid(this.instance, undefined);
  }
}
