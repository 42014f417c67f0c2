/**
 * Autoscaling end to end, every part real (test/controller/activation/world.ts): hosts of the C
 * echo provider count the calls they serve and publish load reports on the bus, the
 * controller's own bus user reads them, its autoscaler decides and writes spec.replicas through
 * the scale subresource, the agent starts and stops hosts. On both API servers.
 *
 *   step        a steady load scales 1 → maxReplicas, and back to minReplicas when it ends
 *   zero        an idle Provider reaches zero; the next call activates it and is answered
 *   square wave a load switching on and off faster than the down-stabilization window scales
 *               up once and never down while it lasts
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallError, callProvider } from '../../../client/call.js';
import { text } from '../../host/helpers.js';
import { APP, ActivationWorld, providersPath } from '../activation/world.js';

const w = new ActivationWorld();
const SCALES = new Set(['ScaledUp', 'ScaledDown', 'ScaledToZero', 'Activated']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every 100 ms until it holds; a timeout says what was last seen. */
async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await f();
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

/** The scale events of a Provider (reason and message), oldest first. */
async function scaleEvents(provider: string): Promise<{ reason: string; message: string; at: string }[]> {
  const items = (await w.admin.list(`/api/v1/namespaces/${APP}/events`)).items as any[];
  return items
    .filter((e) => e.involvedObject?.name === provider && SCALES.has(e.reason))
    .flatMap((e) =>
      Array.from({ length: e.count ?? 1 }, () => ({ reason: e.reason, message: e.message, at: e.lastTimestamp ?? e.eventTime })),
    )
    .sort((a, b) => String(a.at).localeCompare(String(b.at)));
}

async function runningInstances(provider: string): Promise<number> {
  const items = (await w.admin.list(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`)).items as any[];
  return items.filter((i) => i.spec.provider === provider && i.status?.phase === 'Running' && !i.metadata.deletionTimestamp).length;
}

/** Calls `provider` about `perSecond` times a second for `ms`; every failure is kept with its code. */
async function load(nc: NatsConnection, provider: string, perSecond: number, ms: number): Promise<{ sent: number; failed: string[] }> {
  const end = Date.now() + ms;
  const gap = 1000 / perSecond;
  let sent = 0;
  const failed: string[] = [];
  const pending: Promise<void>[] = [];
  for (let next = Date.now(); Date.now() < end; next += gap) {
    sent++;
    pending.push(
      callProvider(nc, { namespace: APP, provider, op: 'Echo', data: 'x', timeoutMs: 10_000 }).then(
        () => {},
        (e) => void failed.push(e instanceof CallError ? e.code : String(e)),
      ),
    );
    const wait = next + gap - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(pending);
  return { sent, failed };
}

beforeAll(async () => {
  // decisions every 250 ms over 2 s of reports sent every 250 ms: the same rules, on a test's clock
  await w.start({ autoscaleIntervalMs: 250, autoscaleWindowMs: 2000, loadReportMs: 250 });
}, 240_000);
afterAll(() => w.stop(), 120_000);

describe('the autoscaler, with real hosts reporting their calls', () => {
  it('scales a steady load from 1 to maxReplicas, and back to minReplicas once it ends', async () => {
    await w.provider('step', {
      replicas: 1,
      allowMultiplePerNode: true, // the world has one node
      autoscale: { minReplicas: 1, maxReplicas: 3, targetCallsPerSecondPerInstance: 10, scaleDownStabilizationSeconds: 2 },
    });
    const nc = await w.connect(w.grantee({ provider: 'step' }).creds);
    await callProvider(nc, { namespace: APP, provider: 'step', op: 'Echo', data: 'first', timeoutMs: 60_000 });
    const loading = load(nc, 'step', 60, 8000); // 60 calls/s over a target of 10/s: ceil(6) clamped to 3
    await until(
      '3 Running instances under load',
      () => runningInstances('step'),
      (n) => n === 3,
    );
    const { sent, failed } = await loading;
    expect(failed).toEqual([]);
    expect(sent).toBeGreaterThan(200);
    await until(
      'back to 1 replica',
      () => w.replicas('step'),
      (n) => n === 1,
      30_000,
    );
    const reasons = (await scaleEvents('step')).map((e) => e.reason);
    expect(reasons[0]).toBe('ScaledUp');
    expect(reasons.at(-1)).toBe('ScaledDown');
    const p = await w.admin.get(providersPath('step'));
    expect(p.status.autoscale).toMatchObject({ desiredReplicas: 1, reason: 'ScaledDown' });
  }, 120_000);

  it('takes an idle Provider to zero, and the next call wakes it and is answered', async () => {
    await w.provider('idle', {
      replicas: 1,
      autoscale: {
        minReplicas: 0,
        maxReplicas: 2,
        targetCallsPerSecondPerInstance: 10,
        scaleToZeroAfterSeconds: 2,
        scaleDownStabilizationSeconds: 1,
      },
    });
    const nc = await w.connect(w.grantee({ provider: 'idle' }).creds);
    const first = await callProvider(nc, { namespace: APP, provider: 'idle', op: 'Echo', data: 'before', timeoutMs: 60_000 });
    expect(text(first.reply)).toBe('before');
    await until(
      'zero replicas',
      () => w.replicas('idle'),
      (n) => n === 0,
      30_000,
    );
    await until(
      'no instance left',
      () => runningInstances('idle'),
      (n) => n === 0,
      30_000,
    );
    // and no host: an instance being deleted still answers while its host drains (a CI run at
    // load 5 saw the next call answered by it), and the claim here is a call with nothing serving
    await until(
      'the old host stopped',
      async () => Object.keys(w.agent?.hosts() ?? {}).filter((k) => k.startsWith(`${APP}/idle-`)),
      (keys) => keys.length === 0,
      30_000,
    );
    const again = await callProvider(nc, { namespace: APP, provider: 'idle', op: 'Echo', data: 'after', timeoutMs: 60_000 });
    expect(text(again.reply)).toBe('after');
    expect(again.instance).not.toBe(first.instance);
    // one of each (the order is seen above; Events are written apart from the scale itself)
    const reasons = (await scaleEvents('idle')).map((e) => e.reason);
    expect(reasons.sort()).toEqual(['Activated', 'ScaledToZero']);
  }, 120_000);

  it('under a square wave shorter than the down-stabilization window scales up once and never down while it lasts', async () => {
    await w.provider('wave', {
      replicas: 1,
      allowMultiplePerNode: true,
      autoscale: { minReplicas: 1, maxReplicas: 2, targetCallsPerSecondPerInstance: 10, scaleDownStabilizationSeconds: 10 },
    });
    const nc = await w.connect(w.grantee({ provider: 'wave' }).creds);
    await callProvider(nc, { namespace: APP, provider: 'wave', op: 'Echo', data: 'first', timeoutMs: 60_000 });
    const started = new Date().toISOString();
    // 2 s on at 40 calls/s, 2 s off, four times: every window of reports sees a load, then none
    for (let i = 0; i < 4; i++) {
      const { failed } = await load(nc, 'wave', 40, 2000);
      expect(failed).toEqual([]);
      await sleep(2000);
    }
    const during = (await scaleEvents('wave')).filter((e) => String(e.at) >= started.slice(0, 19));
    expect(during.map((e) => e.reason)).toEqual(['ScaledUp']);
    expect(await w.replicas('wave')).toBe(2);
  }, 120_000);
});
