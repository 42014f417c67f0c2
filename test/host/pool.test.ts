/**
 * The zygote pool (agent/host/pool.ts) with real host processes and the real `faulty` and
 * `echo` providers: instances beyond the pool still start, an idle pooled host that dies is
 * never handed out and is replaced, and hosts claimed from the pool keep per-instance crash
 * isolation.
 */
import { afterEach, expect, it } from 'vitest';
import { HostPool, hostThreadpoolSize } from '../../agent/host/pool.js';
import { DEFAULT_LIMITS } from '../../agent/host/spec.js';
import type { CrashInfo, ProviderHost } from '../../agent/host/index.js';
import { callProvider } from '../../client/call.js';
import { NS, callError, makeHost, nextEvent, providerLib, text, useHostWorld } from './helpers.js';

const world = useHostWorld();
const threads = hostThreadpoolSize(DEFAULT_LIMITS.maxHungCalls);
const pools: HostPool[] = [];

function pool(size: number): HostPool {
  const p = new HostPool({ size, threadpoolSize: threads, refillDelayMs: 50 });
  pools.push(p);
  p.start();
  return p;
}

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});

const echo = (instance: string, p: HostPool): ProviderHost =>
  makeHost(world.nats.url, { provider: 'echo-pooled', instance, expectedCapid: 'gantry:echo' }, { pool: p });

it('more instances than pooled hosts: the first takes the pooled host, the rest get hosts booted for them, all serve', async () => {
  const p = pool(1);
  await until(() => p.warmCount === 1, 'a warm pooled host');
  const [pooledPid] = p.idlePids();
  const hosts = ['e-0', 'e-1', 'e-2'].map((i) => echo(i, p));
  await Promise.all(hosts.map((h) => h.start()));
  expect(hosts.map((h) => h.startTimings?.pooled)).toEqual([true, false, false]);
  expect(hosts[0]!.pid).toBe(pooledPid);
  expect(new Set(hosts.map((h) => h.pid)).size).toBe(3);
  for (const h of hosts) {
    const r = await callProvider(world.nc, {
      namespace: NS,
      provider: 'echo-pooled',
      instance: h.spec.instance,
      op: 'Echo',
      data: h.spec.instance,
    });
    expect(text(r.reply)).toContain(h.spec.instance);
  }
  // the pool refills behind the claim
  await until(() => p.idlePids().length === 1 && !hosts.some((h) => h.pid === p.idlePids()[0]), 'a replacement pooled host');
  await Promise.all(hosts.map((h) => h.stop()));
});

it('a pooled host that dies while idle is never handed out, and is replaced', async () => {
  const p = pool(1);
  await until(() => p.warmCount === 1, 'a warm pooled host');
  const [dead] = p.idlePids();
  process.kill(dead!, 'SIGKILL');
  await until(() => !alive(dead!), 'the pooled host to die');
  // claimed right away (before or after the pool noticed): never the dead one
  const h = echo('after-death', p);
  await h.start();
  expect(h.pid).not.toBe(dead);
  expect(h.state).toBe('ready');
  // and the pool is full again with a live host that is not the dead one
  await until(() => p.idlePids().length === 1 && p.warmCount === 1, 'the pool to refill');
  expect(p.idlePids()[0]).not.toBe(dead);
  expect(alive(p.idlePids()[0]!)).toBe(true);
  await h.stop();
});

it('hosts claimed from the pool keep crash isolation: a segfault restarts only its own host, from the pool again', async () => {
  const p = pool(2);
  await until(() => p.warmCount === 2, 'two warm pooled hosts');
  const faulty = (instance: string) =>
    makeHost(
      world.nats.url,
      { provider: 'faulty-pooled', instance, libraryPath: providerLib('faulty'), expectedCapid: 'gantry:faulty' },
      { pool: p, backoff: { initialMs: 300, maxMs: 5000, resetAfterMs: 60_000 } },
    );
  const a = faulty('fp-a');
  const b = faulty('fp-b');
  await Promise.all([a.start(), b.start()]);
  expect([a.startTimings?.pooled, b.startTimings?.pooled]).toEqual([true, true]);
  const pidA = a.pid;
  const pidB = b.pid;
  const ok = (instance: string) =>
    callProvider(world.nc, { namespace: NS, provider: 'faulty-pooled', instance, op: 'Ok' }).then((r) => text(r.reply));
  expect(await ok('fp-a')).toBe('ok');

  const crashed = nextEvent<CrashInfo>(a, 'crash');
  const back = nextEvent(a, 'ready');
  const lost = await callError(
    callProvider(world.nc, { namespace: NS, provider: 'faulty-pooled', instance: 'fp-a', op: 'Segfault', timeoutMs: 1500 }),
  );
  expect(['TIMEOUT', 'NO_RESPONDERS']).toContain(lost.code);
  expect((await crashed).signal).toBe('SIGSEGV');
  // the neighbour never noticed
  expect(b.pid).toBe(pidB);
  expect(b.restartCount).toBe(0);
  expect(await ok('fp-b')).toBe('ok');
  // restarted in another process (from the pool, which hands out every host here)
  await back;
  expect(a.pid).not.toBe(pidA);
  expect(await ok('fp-a')).toBe('ok');
  await Promise.all([a.stop(), b.stop()]);
});

it('a spec needing another libuv thread count forks its own host rather than taking a pooled one', async () => {
  const p = pool(1);
  await until(() => p.warmCount === 1, 'a warm pooled host');
  const h = makeHost(
    world.nats.url,
    { provider: 'echo-pooled', instance: 'many-hung', expectedCapid: 'gantry:echo', limits: { maxHungCalls: 20 } },
    { pool: p },
  );
  await h.start();
  expect(h.startTimings?.pooled).toBe(false);
  expect(p.idlePids()).toHaveLength(1);
  await h.stop();
});
