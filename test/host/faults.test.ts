/**
 * Fault containment with the real `faulty` provider: a crash takes down only its own host,
 * which restarts with growing backoff; hangs become TIMEOUT replies, and a host whose calls
 * keep hanging exits and is restarted.
 */
import { expect, it } from 'vitest';
import type { CrashInfo, HostSpec } from '../../agent/host/index.js';
import { callProvider } from '../../client/call.js';
import { NS, callError, makeHost, useHostWorld, nextEvent, providerLib, text } from './helpers.js';

const world = useHostWorld();

const faulty = (instance: string, extra: Partial<HostSpec> = {}, initialMs = 200) =>
  makeHost(
    world.nats.url,
    { provider: 'faulty', instance, libraryPath: providerLib('faulty'), expectedCapid: 'gantry:faulty', ...extra },
    { backoff: { initialMs, maxMs: 5000, resetAfterMs: 60_000 } },
  );

it('a segfault or abort restarts only that host, with growing backoff; the others keep serving', async () => {
  const a = faulty('faulty-a');
  const b = faulty('faulty-b');
  await Promise.all([a.start(), b.start()]);
  const pidB = b.pid;
  const ok = (instance: string) =>
    callProvider(world.nc, { namespace: NS, provider: 'faulty', instance, op: 'Ok' }).then((r) => text(r.reply));
  expect(await ok('faulty-a')).toBe('ok');

  // Listen before provoking: the restart is quick.
  const crash1 = nextEvent<CrashInfo>(a, 'crash');
  const back1 = nextEvent(a, 'ready');
  const lost = await callError(
    callProvider(world.nc, { namespace: NS, provider: 'faulty', instance: 'faulty-a', op: 'Segfault', timeoutMs: 1500 }),
  );
  expect(['TIMEOUT', 'NO_RESPONDERS']).toContain(lost.code);
  const c1 = await crash1;
  expect(c1.signal).toBe('SIGSEGV');
  expect(c1.restartCount).toBe(1);
  expect(a.restartCount).toBe(1);
  // The other instance never noticed.
  expect(await ok('faulty-b')).toBe('ok');
  expect(b.pid).toBe(pidB);
  expect(b.restartCount).toBe(0);

  await back1;
  expect(await ok('faulty-a')).toBe('ok');

  const crash2 = nextEvent<CrashInfo>(a, 'crash');
  const back2 = nextEvent(a, 'ready');
  await callError(callProvider(world.nc, { namespace: NS, provider: 'faulty', instance: 'faulty-a', op: 'Abort', timeoutMs: 1500 }));
  const c2 = await crash2;
  expect(c2.signal).toBe('SIGABRT');
  expect(c2.restartCount).toBe(2);
  expect(c2.nextDelayMs).toBeGreaterThan(c1.nextDelayMs);
  await back2;
  expect(a.state).toBe('ready');
  expect(await ok('faulty-a')).toBe('ok');
  // Calls by provider name reach the survivors throughout.
  expect(await callProvider(world.nc, { namespace: NS, provider: 'faulty', op: 'Ok' }).then((r) => text(r.reply))).toBe('ok');
  expect(b.restartCount).toBe(0);
});

it('a hang yields TIMEOUT from the instance, the host stays usable, and keeps-hanging restarts it', async () => {
  const h = faulty('faulty-hang', { provider: 'faulty-hang', limits: { callTimeoutMs: 400, maxInFlight: 1, maxHungCalls: 2 } });
  await h.start();
  const pid = h.pid;

  // One call in flight: a second one is refused at once. No wait between them is needed: both
  // are published from one connection in this order (callProvider publishes before its first
  // await), NATS delivers them to the host in that order, and the host counts the first in
  // flight before it reads the second.
  const hang1 = callError(callProvider(world.nc, { namespace: NS, provider: 'faulty-hang', op: 'Hang', timeoutMs: 5000 }));
  const busy = await callError(callProvider(world.nc, { namespace: NS, provider: 'faulty-hang', op: 'Ok' }));
  expect(busy.code).toBe('OVERLOADED');
  const t1 = await hang1;
  // The instance answered TIMEOUT itself, well before the caller's own 5 s deadline.
  expect(t1.code).toBe('TIMEOUT');
  expect(t1.instance).toBe('faulty-hang');

  // Still the same process, still serving.
  expect(await callProvider(world.nc, { namespace: NS, provider: 'faulty-hang', op: 'Ok' }).then((r) => text(r.reply))).toBe('ok');
  const err = await callError(callProvider(world.nc, { namespace: NS, provider: 'faulty-hang', op: 'Error' }));
  expect(err.code).toBe('PROVIDER_ERROR');
  expect(err.message).toMatch(/failing as asked/);
  expect(h.pid).toBe(pid);

  // A second stuck call reaches maxHungCalls: the host exits and is restarted.
  const crash = nextEvent<CrashInfo>(h, 'crash');
  const back = nextEvent(h, 'ready');
  const t2 = await callError(callProvider(world.nc, { namespace: NS, provider: 'faulty-hang', op: 'Hang', timeoutMs: 5000 }));
  expect(t2.code).toBe('TIMEOUT');
  const c = await crash;
  expect(c.error?.code).toBe('HUNG');
  await back;
  expect(h.pid).not.toBe(pid);
  expect(await callProvider(world.nc, { namespace: NS, provider: 'faulty-hang', op: 'Ok' }).then((r) => text(r.reply))).toBe('ok');
});

it('a leaking provider grows the host process, which keeps serving; an absurd leak is refused', async () => {
  const h = faulty('faulty-leak', { provider: 'faulty-leak' });
  await h.start();
  const pid = h.pid;
  const before = h.residentBytes()!;
  expect(before).toBeGreaterThan(0);
  const MiB = 1024 * 1024;
  for (let i = 0; i < 4; i++) {
    const r = await callProvider(world.nc, {
      namespace: NS,
      provider: 'faulty-leak',
      op: 'Leak',
      data: JSON.stringify({ bytes: 8 * MiB }),
    });
    expect(text(r.reply)).toBe(`leaked ${8 * MiB}`);
  }
  const after = h.residentBytes()!;
  // 32 MiB written and never freed are resident now (allow for other churn).
  expect(after - before).toBeGreaterThan(24 * MiB);
  expect(await callProvider(world.nc, { namespace: NS, provider: 'faulty-leak', op: 'Ok' }).then((r) => text(r.reply))).toBe('ok');
  const absurd = await callError(
    callProvider(world.nc, { namespace: NS, provider: 'faulty-leak', op: 'Leak', data: '{"bytes":4294967296}' }),
  );
  expect(absurd.code).toBe('PROVIDER_ERROR');
  expect(absurd.providerCode).toBe(2);
  expect(h.pid).toBe(pid);
  expect(h.restartCount).toBe(0);
  await h.stop();
  expect(h.residentBytes()).toBeUndefined();
});

it('stop() during backoff stays stopped', async () => {
  const h = faulty('faulty-stop', { provider: 'faulty-stop' }, 1500);
  await h.start();
  const crash = nextEvent<CrashInfo>(h, 'crash');
  await callError(callProvider(world.nc, { namespace: NS, provider: 'faulty-stop', op: 'Segfault', timeoutMs: 1000 }));
  await crash;
  expect(h.state).toBe('backoff');
  await h.stop();
  await new Promise((r) => setTimeout(r, 2000)); // longer than the 1.5 s backoff
  expect(h.state).toBe('stopped');
  expect(h.pid).toBeUndefined();
  const none = await callError(callProvider(world.nc, { namespace: NS, provider: 'faulty-stop', op: 'Ok' }));
  expect(none.code).toBe('NO_RESPONDERS');
});
