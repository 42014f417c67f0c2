/**
 * The agent's reconciler on the shared work queue, with fake hosts and a fake cache (no
 * processes, no API server): start and graceful stop of runners, a re-created instance (new
 * uid) whose old runner stops before the new one starts, a reconcile that throws retried with
 * backoff, the drain on stop, and, under the membrane, each host given its own instance's
 * credentials with nothing kept per instance once it is gone.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderInstance } from '../../api/index.js';
import { providerHostSpec } from '../../agent/host-factory.js';
import type { PreparedBinary, RunnerDeps, SupervisedHost } from '../../agent/instance-runner.js';
import { InstanceReconciler, instanceKey } from '../../agent/reconciler.js';
import type { InstanceRef, StatusWriter } from '../../agent/status.js';
import { logger } from '../../runtime/log.js';

const NODE = 'node-r';

function instance(name: string, uid: string, extra: Partial<ProviderInstance['metadata']> = {}): ProviderInstance {
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { namespace: 'apps', name, uid, ...extra },
    spec: {
      provider: 'echo',
      nodeName: NODE,
      target: 'x86_64-linux',
      archive: { ref: 'registry.test/echo:1', digest: 'sha256:00' },
    },
  } as ProviderInstance;
}

class FakeHost extends EventEmitter implements SupervisedHost {
  readonly restartCount = 0;
  readonly pid = 4242;
  constructor(
    readonly uid: string,
    private readonly events: string[],
  ) {
    super();
  }
  async start(): Promise<void> {
    this.events.push(`start ${this.uid}`);
    this.emit('ready');
  }
  async stop(): Promise<void> {
    // a graceful stop takes a while: a new runner must not start in the meantime
    await new Promise((r) => setTimeout(r, 20));
    this.events.push(`stop ${this.uid}`);
  }
}

/** A cache the test edits, and the reconciler over it with fake runner deps. */
function world(o: { get?: (ns: string, name: string) => ProviderInstance | undefined; maxInstances?: number } = {}) {
  const cache = new Map<string, ProviderInstance>();
  const events: string[] = [];
  const statuses: Array<{ name: string; uid: string; phase: unknown }> = [];
  const written = new Map<string, Record<string, unknown>>();
  const forgotten: InstanceRef[] = [];
  const hosts: Array<{ uid: string; prepared: PreparedBinary }> = [];
  const status = {
    write: async (ref: InstanceRef, s: Record<string, unknown>) => {
      statuses.push({ name: ref.name, uid: ref.uid, phase: s.phase });
      written.set(ref.name, s);
    },
    forget: (ref: InstanceRef) => forgotten.push(ref),
  } as unknown as StatusWriter;
  const deps: RunnerDeps = {
    prepare: async (inst) => ({
      libraryPath: `/lib/${inst.metadata.uid}.so`,
      capid: 'gantry:echo',
      sha256: 'ab',
      natsCredsFile: `/creds/${inst.metadata.uid}.creds`,
    }),
    createHost: (inst, prepared) => {
      hosts.push({ uid: inst.metadata.uid ?? '', prepared });
      return new FakeHost(inst.metadata.uid ?? '', events);
    },
    libraryIntact: () => true,
    status,
    recordPid: () => {},
    log: logger('reconciler-test'),
  };
  const reconciler = new InstanceReconciler({
    node: NODE,
    get: o.get ?? ((ns, name) => cache.get(`${ns}/${name}`)),
    list: () => [...cache.values()],
    runnerDeps: deps,
    maxInstances: o.maxInstances,
    log: logger('reconciler-test'),
    backoffBaseMs: 10,
  });
  const put = (i: ProviderInstance) => {
    cache.set(instanceKey(i), i);
    reconciler.enqueue(instanceKey(i));
  };
  const remove = (i: ProviderInstance) => {
    cache.delete(instanceKey(i));
    reconciler.enqueue(instanceKey(i));
  };
  return { cache, events, statuses, written, forgotten, hosts, reconciler, put, remove };
}

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const running: InstanceReconciler[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

describe('InstanceReconciler', () => {
  it('starts a runner for an instance bound here, and stops it gracefully (Terminating) when it is being deleted', async () => {
    const w = world();
    running.push(w.reconciler);
    w.reconciler.start();
    const echo = instance('echo', 'u1');
    w.put(echo);
    await until('Running', () => w.reconciler.runners.get('apps/echo')?.currentPhase === 'Running');
    expect(w.events).toEqual(['start u1']);

    w.put(instance('echo', 'u1', { deletionTimestamp: '2026-01-01T00:00:00Z' }));
    await until('no runner', () => w.reconciler.runners.size === 0);
    expect(w.events).toEqual(['start u1', 'stop u1']);
    expect(w.statuses.at(-1)).toEqual({ name: 'echo', uid: 'u1', phase: 'Terminating' });
    expect(w.forgotten.map((r) => r.uid)).toEqual(['u1']);
  });

  it('ignores an instance bound to another node', async () => {
    const w = world();
    running.push(w.reconciler);
    w.reconciler.start();
    const other = instance('other', 'u9');
    other.spec.nodeName = 'node-elsewhere';
    w.put(other);
    await w.reconciler.idle();
    expect(w.reconciler.runners.size).toBe(0);
    expect(w.events).toEqual([]);
  });

  it('a re-created instance (new uid): the old runner stops before the new one starts', async () => {
    const w = world();
    running.push(w.reconciler);
    w.reconciler.start();
    w.put(instance('echo', 'old'));
    await until('old running', () => w.reconciler.runners.get('apps/echo')?.currentPhase === 'Running');
    w.put(instance('echo', 'new'));
    await until('new running', () => w.reconciler.runners.get('apps/echo')?.ref.uid === 'new');
    await until('new host started', () => w.events.length === 3);
    expect(w.events).toEqual(['start old', 'stop old', 'start new']);
    // the old one vanished (not deleting): no Terminating status for it
    expect(w.statuses.filter((s) => s.uid === 'old').map((s) => s.phase)).not.toContain('Terminating');
  });

  it('retries a reconcile that throws, with backoff, instead of only logging it', async () => {
    let calls = 0;
    const w = world({
      get: (ns, name) => {
        calls++;
        if (calls <= 2) throw new Error('cache hiccup');
        return w.cache.get(`${ns}/${name}`);
      },
    });
    running.push(w.reconciler);
    w.cache.set('apps/echo', instance('echo', 'u1'));
    const t0 = Date.now();
    w.reconciler.start();
    await until('Running after the retries', () => w.reconciler.runners.get('apps/echo')?.currentPhase === 'Running');
    expect(calls).toBe(3);
    // two failures: 10 ms, then 20 ms of backoff
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('resync re-enqueues every cached instance and every runner', async () => {
    const w = world();
    running.push(w.reconciler);
    w.reconciler.start();
    w.cache.set('apps/echo', instance('echo', 'u1')); // no event: only a resync finds it
    await w.reconciler.idle();
    expect(w.reconciler.runners.size).toBe(0);
    w.reconciler.resync();
    await until('Running', () => w.reconciler.runners.get('apps/echo')?.currentPhase === 'Running');
    w.cache.delete('apps/echo'); // again no event: the runner's own key is resynced
    w.reconciler.resync();
    await until('stopped', () => w.reconciler.runners.size === 0);
    expect(w.events).toEqual(['start u1', 'stop u1']);
  });

  it('stop drains: every host stopped gracefully (Pending, AgentStopped), and later events start nothing', async () => {
    const w = world();
    w.reconciler.start();
    w.put(instance('a', 'ua'));
    w.put(instance('b', 'ub'));
    await until('both running', () => [...w.reconciler.runners.values()].filter((r) => r.currentPhase === 'Running').length === 2);
    await w.reconciler.stop();
    expect(w.reconciler.runners.size).toBe(0);
    expect(w.events.filter((e) => e.startsWith('stop')).sort()).toEqual(['stop ua', 'stop ub']);
    expect(
      w.statuses
        .filter((s) => s.phase === 'Pending')
        .map((s) => s.uid)
        .sort(),
    ).toEqual(['ua', 'ub']);
    w.put(instance('c', 'uc'));
    await new Promise((r) => setTimeout(r, 30));
    expect(w.hosts.map((h) => h.uid)).toEqual(['ua', 'ub']);
  });

  it("membrane: each host gets its own instance's creds file, and nothing stays behind across create/delete cycles", async () => {
    const w = world();
    running.push(w.reconciler);
    w.reconciler.start();
    for (let n = 0; n < 5; n++) {
      const i = instance('echo', `u${n}`);
      w.put(i);
      await until(`cycle ${n} running`, () => w.reconciler.runners.get('apps/echo')?.currentPhase === 'Running');
      w.remove(i);
      await until(`cycle ${n} gone`, () => w.reconciler.runners.size === 0);
    }
    // the creds travel with the prepared library to the host spec: no table keyed by uid to outlive the instance
    for (const { uid, prepared } of w.hosts) {
      const spec = providerHostSpec(instance('echo', uid), prepared, { natsUrl: 'nats://n:4222', membrane: true });
      expect(spec.nats).toEqual({
        servers: 'nats://n:4222',
        credsFile: `/creds/${uid}.creds`,
        tls: undefined,
        connectTimeoutMs: undefined,
      });
    }
    expect(w.hosts.map((h) => h.uid)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
    expect(w.forgotten.map((r) => r.uid)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
  });

  it('runs at most maxInstances: the oldest run, the others wait (Pending, InstanceLimit) and start as places free up', async () => {
    const w = world({ maxInstances: 2 });
    running.push(w.reconciler);
    const at = (s: number) => ({ creationTimestamp: `2026-01-01T00:00:0${s}Z` });
    // all in the cache before the first reconcile, newest first: the oldest two win regardless
    for (const [name, s] of [
      ['d', 4],
      ['c', 3],
      ['b', 2],
      ['a', 1],
    ] as const)
      w.cache.set(`apps/${name}`, instance(name, name, at(s)));
    w.reconciler.start();
    await w.reconciler.idle();
    await until('a and b running', () => w.events.length === 2);
    expect([...w.reconciler.runners.keys()].sort()).toEqual(['apps/a', 'apps/b']);
    for (const [name, n] of [
      ['c', 1],
      ['d', 2],
    ] as const) {
      expect(w.written.get(name)).toMatchObject({ phase: 'Pending', reason: 'InstanceLimit' });
      expect(w.written.get(name)?.message).toBe(
        "instance limit reached: this node's agent runs at most 2 instances (--max-instances 2) and 2 are taken by running or " +
          `older instances; this one is number ${n} in line (oldest first) and starts when one stops`,
      );
      const [ready] = w.written.get(name)!.conditions as Array<Record<string, unknown>>;
      expect(ready).toMatchObject({ type: 'Ready', status: 'False', reason: 'InstanceLimit' });
    }

    // an older instance arriving later does not evict a running one
    w.put(instance('z', 'z', { creationTimestamp: '2025-01-01T00:00:00Z' }));
    await w.reconciler.idle();
    expect([...w.reconciler.runners.keys()].sort()).toEqual(['apps/a', 'apps/b']);
    expect(w.written.get('z')).toMatchObject({ phase: 'Pending', reason: 'InstanceLimit' });

    // a place frees up: the oldest waiting one (z) takes it, without any event about z itself
    w.remove(instance('a', 'a'));
    await until('z running', () => w.reconciler.runners.get('apps/z')?.currentPhase === 'Running');
    await w.reconciler.idle();
    expect([...w.reconciler.runners.keys()].sort()).toEqual(['apps/b', 'apps/z']);
    expect(w.events.slice(0, 2).sort()).toEqual(['start a', 'start b']);
    expect(w.events.slice(2)).toEqual(['stop a', 'start z']);

    // a waiting one deleted is forgotten; the next place goes to c, then d
    w.remove(instance('d', 'd'));
    await w.reconciler.idle();
    expect(w.forgotten.map((r) => r.uid)).toContain('d');
    w.remove(instance('b', 'b'));
    await until('c running', () => w.reconciler.runners.get('apps/c')?.currentPhase === 'Running');
    expect([...w.reconciler.runners.keys()].sort()).toEqual(['apps/c', 'apps/z']);
  });

  it('without maxInstances every instance bound here runs', async () => {
    const w = world();
    running.push(w.reconciler);
    w.reconciler.start();
    for (const n of ['a', 'b', 'c']) w.put(instance(n, n));
    await until('three running', () => [...w.reconciler.runners.values()].filter((r) => r.currentPhase === 'Running').length === 3);
    expect([...w.written.values()].map((s) => s.reason)).not.toContain('InstanceLimit');
  });

  it("without the membrane a host connects with the agent's own NATS options", () => {
    const prepared = { libraryPath: '/lib/x.so', capid: 'gantry:echo', sha256: 'ab' };
    const spec = providerHostSpec(instance('echo', 'u1'), prepared, { natsUrl: 'nats://n:4222', nats: { token: 't' } });
    expect(spec.nats).toEqual({ token: 't', servers: 'nats://n:4222' });
    expect(spec).toMatchObject({
      namespace: 'apps',
      instance: 'echo',
      provider: 'echo',
      libraryPath: '/lib/x.so',
      expectedCapid: 'gantry:echo',
    });
    expect(spec.limits).toBeUndefined();
  });
});
