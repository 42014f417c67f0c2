/**
 * What a real host counts of its calls, told two ways: the LoadReports it publishes on its
 * instance's load subject (client/load.ts) and the `calls` snapshots its supervisor hears (the
 * agent's Prometheus export). Under the membrane (nats-server in operator mode, each host with its
 * own instance's credentials) the controller's bus user receives the reports; a caller cannot.
 */
import { createUser } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/transport-node';
import { expect, it } from 'vitest';
import { callProvider } from '../../client/call.js';
import { formatCreds } from '../../client/creds.js';
import { ALL_LOAD_SUBJECTS, type LoadReport, loadSubject, parseLoadReport } from '../../client/load.js';
import { connectNats } from '../../client/nats.js';
import { controllerBusPermissions } from '../../membrane/permissions.js';
import { CALL_CODES, type CallsSnapshot, OTHER_OPERATION } from '../../agent/host/call-stats.js';
import { callError, makeHost, NS, nextEvent, useHostWorld } from './helpers.js';

const world = useHostWorld();
const OK = CALL_CODES.indexOf('OK');
const PROVIDER_ERROR = CALL_CODES.indexOf('PROVIDER_ERROR');

/** A connection as the controller's bus user (membrane/permissions.ts controllerBusPermissions). */
async function controllerBus(): Promise<NatsConnection> {
  const kp = createUser();
  const { jwt } = world.nats.authority.mintUser('controller-bus', (k) => controllerBusPermissions(k), { userKey: kp.getPublicKey() });
  return connectNats({
    servers: world.nats.url,
    credsFile: world.nats.writeCreds('controller-bus', formatCreds(jwt, new TextDecoder().decode(kp.getSeed()))),
  });
}

/** Every load report `nc` receives on ALL_LOAD_SUBJECTS (each must parse), and a wait for one that matches. */
function reportsOn(nc: NatsConnection): { until(pred: (r: LoadReport) => boolean, timeoutMs?: number): Promise<LoadReport> } {
  const seen: LoadReport[] = [];
  const waiters: Array<() => void> = [];
  let invalid: string | undefined;
  nc.subscribe(ALL_LOAD_SUBJECTS, {
    callback: (_err, m) => {
      const r = parseLoadReport(m.data);
      if (typeof r === 'string') invalid = r;
      else seen.push(r);
      for (const w of waiters.splice(0)) w();
    },
  });
  return {
    async until(pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (let from = 0; ; ) {
        if (invalid) throw new Error(`a host published an invalid load report: ${invalid}`);
        const hit = seen.slice(from).find(pred);
        if (hit) return hit;
        from = seen.length;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching load report within ${timeoutMs} ms; last ${JSON.stringify(seen.at(-1))}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

it("the controller's bus user receives a host's load reports, which count the calls it answered, the last one not serving", async () => {
  const bus = await controllerBus();
  try {
    const reports = reportsOn(bus);
    await bus.flush();
    const host = makeHost(world.nats.url, { provider: 'echo-load', instance: 'echo-load-0', loadReportMs: 100 });
    await host.start();
    const { nc: caller } = await world.actor('echo-load');
    for (let i = 0; i < 3; i++) await callProvider(caller, { namespace: NS, provider: 'echo-load', op: 'Echo', data: `hi ${i}` });
    const nope = await callError(callProvider(caller, { namespace: NS, provider: 'echo-load', op: 'Nope' }));
    expect(nope.code).toBe('PROVIDER_ERROR');

    const r = await reports.until((x) => x.calls === 4);
    expect(r).toMatchObject({ instance: 'echo-load-0', overloaded: 0, inFlight: 0, serving: true });
    expect(r.startedAt).toBeLessThanOrEqual(r.at);
    expect(r.busyMs).toBeGreaterThanOrEqual(0);

    // the supervisor hears the same counts, by operation: a name never answered OK is `other`
    const snap = await nextEvent<CallsSnapshot>(host, 'calls');
    expect(snap.startedAt).toBe(r.startedAt);
    expect(snap.ops.Echo.counts[OK]).toBe(3);
    expect(snap.ops.Echo.buckets.reduce((a, b) => a + b)).toBe(3);
    expect(snap.ops.Nope).toBeUndefined();
    expect(snap.ops[OTHER_OPERATION].counts[PROVIDER_ERROR]).toBe(1);

    // draining, the host says it no longer serves, with its final counts
    const last = reports.until((x) => !x.serving);
    await host.stop();
    expect(await last).toMatchObject({ instance: 'echo-load-0', calls: 4, serving: false, startedAt: r.startedAt });
  } finally {
    await bus.close();
  }
});

it('a caller cannot read load reports: its subscription is refused by the server', async () => {
  const host = makeHost(world.nats.url, { provider: 'echo-load2', instance: 'echo-load2-0', loadReportMs: 100 });
  await host.start();
  const { nc: caller } = await world.actor('echo-load2');
  const refused = new Promise<string>((resolve) => {
    void (async () => {
      for await (const s of caller.status()) if (s.type === 'error') resolve(String(s.error));
    })();
  });
  const sub = caller.subscribe(loadSubject(NS, 'echo-load2', 'echo-load2-0'));
  await caller.flush();
  expect(await refused).toMatch(/Permissions Violation for Subscription to "gantry\.host-test\.load\.echo-load2\.echo-load2-0"/);
  // and nothing was delivered to it (the subscription is closed with the error)
  await expect(sub.closed).resolves.toBeInstanceOf(Error);
  expect(sub.getReceived()).toBe(0);
});
