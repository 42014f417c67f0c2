/**
 * Stopping a host never loses a call silently: calls racing the stop are served, or answered
 * NOT_READY by the instance, or find no responders once it has unsubscribed — never left to
 * time out. A call still running when the drain grace ends is answered NOT_READY.
 */
import { expect, it } from 'vitest';
import { CallError, callProvider } from '../../client/call.js';
import { NS, makeHost, useHostWorld, providerLib } from './helpers.js';

const world = useHostWorld();

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'served',
    (e) => (e instanceof CallError ? e.code : `thrown: ${(e as Error).message}`),
  );

it('calls racing a stop are served, NOT_READY or NO_RESPONDERS; none times out', async () => {
  // No OVERLOADED answers here: this is about stopping, not backpressure.
  const host = makeHost(world.nats.url, { provider: 'echo-drain', instance: 'echo-drain-0', limits: { maxInFlight: 100_000 } });
  await host.start();
  const outcomes: Array<Promise<string>> = [];
  let stopping: Promise<void> | undefined;
  let stopped = false;
  // Calls go out in bursts of 8 per event-loop turn; the stop starts once some were answered,
  // and the bursts go on until it is over and a few more have found nobody.
  let answered = 0;
  let afterStop = 0;
  const until = Date.now() + 15_000;
  for (let i = 0; i < 2000 && Date.now() < until && afterStop < 5; i++) {
    for (let k = 0; k < 8; k++) {
      outcomes.push(
        outcome(callProvider(world.nc, { namespace: NS, provider: 'echo-drain', op: 'Echo', data: `m${i}.${k}`, timeoutMs: 3000 })).finally(
          () => {
            answered++;
          },
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
    if (!stopping && answered >= 40)
      stopping = host.stop().then(() => {
        stopped = true;
      });
    if (stopped) afterStop++;
  }
  await stopping;
  const seen = new Map<string, number>();
  for (const o of await Promise.all(outcomes)) seen.set(o, (seen.get(o) ?? 0) + 1);
  expect(
    [...seen.keys()].filter((k) => !['served', 'NOT_READY', 'NO_RESPONDERS'].includes(k)),
    JSON.stringify([...seen]),
  ).toEqual([]);
  expect(seen.get('served')).toBeGreaterThanOrEqual(40);
  expect(seen.get('NO_RESPONDERS')).toBeGreaterThan(0);
});

it('a call still running when the drain grace ends is answered NOT_READY', async () => {
  const host = makeHost(world.nats.url, {
    provider: 'faulty-drain',
    instance: 'faulty-drain-0',
    libraryPath: providerLib('faulty'),
    limits: { callTimeoutMs: 60_000, stopGraceMs: 300 },
  });
  await host.start();
  const hang = outcome(
    callProvider(world.nc, { namespace: NS, provider: 'faulty-drain', op: 'Hang', timeoutMs: 20_000 }).catch((e: CallError) => {
      expect(e.instance).toBe('faulty-drain-0');
      expect(e.message).toMatch(/stopp/);
      throw e;
    }),
  );
  await new Promise((r) => setTimeout(r, 200));
  await host.stop();
  expect(await hang).toBe('NOT_READY');
  expect(host.state).toBe('stopped');
});
