/**
 * The dispatcher's answers to a provider when the actor side cannot take a delivery, seen
 * through the real `messaging` provider's Stats (it counts each code the dispatcher returns):
 * a slow actor fills the pending deliveries (GANTRY_ERR_OVERLOADED), an actor nobody serves is
 * refused for a while after its delivery found no responders (GANTRY_ERR_NO_ACTOR), and
 * deliveries resume once the actor is back.
 */
import { expect, it } from 'vitest';
import type { Msg } from '@nats-io/transport-node';
import { callProvider } from '../../client/call.js';
import { actorSubject } from '../../client/protocol.js';
import { NS, makeHost, useHostWorld, providerLib, text } from './helpers.js';

const world = useHostWorld();

interface Stats {
  accepted: number;
  overloaded: number;
  noActor: number;
  notReady: number;
  other: number;
}

async function messagingHost(name: string, limits: Record<string, number>) {
  const host = makeHost(world.nats.url, {
    provider: name,
    instance: `${name}-0`,
    libraryPath: providerLib('messaging'),
    expectedCapid: 'wascap:messaging',
    limits,
  });
  await host.start();
  const call = (op: string, data: unknown = {}) =>
    callProvider(world.nc, { namespace: NS, provider: name, op, data: JSON.stringify(data) }).then((r) => JSON.parse(text(r.reply)));
  /** Poll Stats until it satisfies `done` (bounded). */
  const statsUntil = async (done: (s: Stats) => boolean): Promise<Stats> => {
    let s: Stats = await call('Stats');
    for (let i = 0; i < 100 && !done(s); i++) {
      await new Promise((r) => setTimeout(r, 50));
      s = await call('Stats');
    }
    return s;
  };
  return { host, call, statsUntil };
}

it('a slow actor fills the pending deliveries: the provider hears OVERLOADED for the rest', async () => {
  const { call, statsUntil } = await messagingHost('msg-slow', { maxPendingDispatches: 2, dispatchTimeoutMs: 20_000 });
  const held: Msg[] = [];
  // Subscribed, but never answers while the test runs.
  const slow = await world.actor('msg-slow');
  const actor = slow.nc.subscribe(actorSubject(NS, slow.key, 'msg-slow'), {
    callback: (_e, m) => {
      held.push(m);
    },
  });
  await slow.nc.flush();
  await call('Subscribe', { subject: 'news', actor: slow.key });
  for (let i = 0; i < 5; i++) expect(await call('Publish', { subject: 'news', body: i })).toEqual({ subscribers: 1 });
  const s = await statsUntil((x) => x.accepted + x.overloaded >= 5);
  expect(s).toEqual({ accepted: 2, overloaded: 3, noActor: 0, notReady: 0, other: 0 });
  for (let i = 0; i < 40 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  expect(held.map((m) => JSON.parse(text(m.data)).body)).toEqual([0, 1]);

  // Once the actor answers, room frees up and deliveries are accepted again.
  for (const m of held.splice(0)) m.respond();
  let s2: Stats = s;
  for (let i = 0; i < 100 && s2.accepted < 3; i++) {
    await new Promise((r) => setTimeout(r, 50));
    await call('Publish', { subject: 'news', body: 'after' });
    s2 = await statsUntil((x) => x.accepted + x.overloaded >= 6 + i);
  }
  expect(s2.accepted).toBe(3);
  actor.unsubscribe();
});

it('an actor nobody serves is refused NO_ACTOR after its delivery found no responders, until it is back', async () => {
  const { call, statsUntil } = await messagingHost('msg-ghost', { unreachableActorMs: 400 });
  const ghost = await world.actor('msg-ghost');
  await call('Subscribe', { subject: 'news', actor: ghost.key });
  // The first delivery is accepted and finds nobody; publish until the dispatcher refuses.
  let s: Stats = await call('Stats');
  for (let i = 0; i < 100 && s.noActor === 0; i++) {
    await call('Publish', { subject: 'news', body: `lost ${i}` });
    await new Promise((r) => setTimeout(r, 20));
    s = await call('Stats');
  }
  expect(s.noActor).toBeGreaterThan(0);
  expect(s.accepted).toBeGreaterThan(0);
  expect(s.other + s.overloaded + s.notReady).toBe(0);

  // The actor comes back: once the mark lapses, deliveries reach it.
  const got: unknown[] = [];
  const actor = ghost.nc.subscribe(actorSubject(NS, ghost.key, 'msg-ghost'), {
    callback: (_e, m) => {
      got.push(JSON.parse(text(m.data)).body);
      m.respond();
    },
  });
  await ghost.nc.flush();
  for (let i = 0; i < 100 && !got.some((b) => String(b).startsWith('back')); i++) {
    await call('Publish', { subject: 'news', body: `back ${i}` });
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(got.some((b) => String(b).startsWith('back'))).toBe(true);
  expect(got.some((b) => String(b).startsWith('lost'))).toBe(false);
  const after = await statsUntil(() => true);
  expect(after.accepted).toBeGreaterThan(s.accepted);
  actor.unsubscribe();
});
