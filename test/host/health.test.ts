/**
 * Readiness and liveness of real provider hosts with the `health` example provider (its health
 * is a file the test writes): an unhealthy instance leaves the queue groups, so calls by
 * provider name all reach the healthy one, and it comes back when healthy; failureThreshold
 * failures in a row restart the host with LIVENESS_FAILED; a health call that hangs counts as a
 * failure after the timeout and never holds up calls.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CallPool as CallPoolType } from '../../agent/host/call-pool.js';
import type { CrashInfo, HostSpec, ProviderHost } from '../../agent/host/index.js';
import { NativeProvider } from '../../agent/host/native.js';
import { callProvider } from '../../client/call.js';
import { NS, callError, makeHost, nextEvent, providerLib, text, useHostWorld } from './helpers.js';

const world = useHostWorld();
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-health-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fileOf = (instance: string) => join(dir, instance);
/** The provider's next health answer: '' healthy, 'hang', or an unhealthy message. */
const setHealth = (instance: string, state: string) => writeFileSync(fileOf(instance), state);

function healthHost(instance: string, health: HostSpec['health']): ProviderHost {
  setHealth(instance, '');
  return makeHost(
    world.nats.url,
    {
      provider: 'health',
      instance,
      libraryPath: providerLib('health'),
      expectedCapid: 'gantry:health',
      config: { health_file: fileOf(instance) },
      health,
    },
    { backoff: { initialMs: 100, maxMs: 1000, resetAfterMs: 60_000 } },
  );
}

/** The next 'health' event: [healthy, message]. */
function nextHealth(host: ProviderHost): Promise<[boolean, string]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no 'health' event within 20 s")), 20_000);
    host.once('health', (healthy: boolean, message: string) => {
      clearTimeout(t);
      resolve([healthy, message]);
    });
  });
}

/** Which instance answered each of n calls by provider name. */
async function answeredBy(n: number): Promise<Set<string>> {
  const who = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await callProvider(world.nc, { namespace: NS, provider: 'health', op: 'Echo', data: `call ${i}` });
    expect(text(r.reply)).toBe(`call ${i}`);
    who.add(r.instance);
  }
  return who;
}

it('an unhealthy instance receives no calls: they all go to the healthy one; healthy again, it serves again', async () => {
  // readiness only: the threshold is far away
  const settings = { periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 1000 };
  const a = healthHost('health-a', settings);
  const b = healthHost('health-b', settings);
  await Promise.all([a.start(), b.start()]);
  expect(await answeredBy(40)).toEqual(new Set(['health-a', 'health-b']));

  const down = nextHealth(a);
  setHealth('health-a', 'database unreachable');
  expect(await down).toEqual([false, 'database unreachable']);
  expect(a.health).toEqual({ healthy: false, message: 'database unreachable' });
  expect(a.state).toBe('ready'); // still running: only out of the queue groups
  expect(await answeredBy(40)).toEqual(new Set(['health-b']));
  // not even its own instance subject answers
  const e = await callError(
    callProvider(world.nc, { namespace: NS, provider: 'health', instance: 'health-a', op: 'Echo', timeoutMs: 2000 }),
  );
  expect(e.code).toBe('NO_RESPONDERS');

  const up = nextHealth(a);
  setHealth('health-a', '');
  expect(await up).toEqual([true, 'the provider is healthy again']);
  expect(await answeredBy(40)).toEqual(new Set(['health-a', 'health-b']));
  expect(a.restartCount).toBe(0);
  await Promise.all([a.stop(), b.stop()]);
});

it('failureThreshold failures in a row restart the host (LIVENESS_FAILED), which serves again once healthy', async () => {
  const h = healthHost('health-live', { periodSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 3 });
  await h.start();
  const firstPid = h.pid;
  const crash = nextEvent<CrashInfo>(h, 'crash');
  setHealth('health-live', 'disk full');
  const c = await crash;
  expect(c.error).toEqual({ code: 'LIVENESS_FAILED', message: '3 health checks failed in a row; the last: disk full' });
  expect(c.restartCount).toBe(1);
  expect(h.restartCount).toBe(1);
  const back = nextEvent(h, 'ready');
  setHealth('health-live', '');
  await back;
  expect(h.pid).not.toBe(firstPid);
  const r = await callProvider(world.nc, { namespace: NS, provider: 'health', instance: 'health-live', op: 'Echo', data: 'hi' });
  expect(text(r.reply)).toBe('hi');
  await h.stop();
});

it('a health check that hangs is a failure after timeoutSeconds, each period stuck one more, then liveness', async () => {
  const h = healthHost('health-hang', { periodSeconds: 0.2, timeoutSeconds: 0.5, failureThreshold: 4 });
  await h.start();
  const down = nextHealth(h);
  const crash = nextEvent<CrashInfo>(h, 'crash');
  setHealth('health-hang', 'hang');
  expect(await down).toEqual([false, 'the health check did not answer within 0.5 s']);
  const c = await crash;
  expect(c.error?.code).toBe('LIVENESS_FAILED');
  expect(c.error?.message).toMatch(/^4 health checks failed in a row; the last: the health check has not returned for \d+ s$/);
  // the stuck native call could not be joined: the host was killed rather than left hanging
  expect(c.signal).toBe('SIGKILL');
  setHealth('health-hang', '');
  await h.stop();
});

it('a hanging health call holds up no call: handle_call runs on the call threads meanwhile', async () => {
  setHealth('in-process', 'hang');
  const p = NativeProvider.load(providerLib('health'));
  // handle_call on a call thread, as a host runs it
  p.configure({ health_file: fileOf('in-process') });
  // from dist/: the pool starts its worker threads from the built call-worker.js beside it
  const built = '../../dist/agent/host/call-pool.js';
  const { CallPool } = (await import(built)) as { CallPool: typeof CallPoolType };
  const pool = new CallPool(p.callFunctions(), 1, (e) => {
    throw e;
  });
  let healthReturned = false;
  const health = p.health().then((a) => {
    healthReturned = true;
    return a;
  });
  const reply = await new Promise<string>((resolve) =>
    pool.call('', 'Echo', Buffer.from('still served'), (_s, body) => resolve(text(body))),
  );
  expect(reply).toBe('still served');
  expect(healthReturned).toBe(false);
  setHealth('in-process', 'recovered?');
  expect(await health).toEqual({ status: 1, message: 'recovered?' });
  await pool.close();
});
