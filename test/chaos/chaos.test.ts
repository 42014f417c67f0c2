/**
 * A short chaos run (bench/chaos/run.ts) in the suite: 3 nodes, 3 NATS servers, 2
 * controllers, a low steady load, and each of the five faults once (a provider host, an agent,
 * the controller leader, a NATS server, the registry). It asserts the properties, not the
 * timings (those are `npm run chaos`'s): after every fault every Provider is Ready again and
 * the killed part runs again, the standby controller takes the leader Lease, no Provider ever
 * had two live instances on one node nor a node more host processes than instances, no
 * instance is lost, and the callers' calls, with the retry policy, succeed (99 % at least,
 * and none fails for a reason other than a transient one).
 */
import { expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos/run.js';
import { buildProviders } from '../host/helpers.js';

it('parts die one at a time under load: every Provider recovers, nothing is duplicated or lost, calls keep succeeding', async () => {
  buildProviders();
  const report = await runChaos({
    durationS: 40,
    rate: 40,
    downMs: 2000,
    // a shorter Lease than the controller's default, so the test waits less for the failover
    leaderElection: { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 },
  });
  expect(report.faults.map((f) => f.fault)).toEqual(['host', 'agent', 'controller', 'nats', 'registry']);
  for (const f of report.faults) expect(f.recoverySeconds, `${f.fault}: ${f.target}`).not.toBeNull();
  expect(report.faults.find((f) => f.fault === 'controller')?.failoverSeconds).not.toBeNull();
  expect([report.duplicates, report.lost, report.findings]).toEqual([0, 0, []]);
  expect(report.sent).toBeGreaterThan(500);
  // a call may still run out of its deadline on a starved machine, but never fail for a
  // reason that means a bug (a wrong reply, a refusal, a provider error, a malformed call)
  const transient = ['TIMEOUT', 'CONNECTION_LOST', 'NO_RESPONDERS', 'NOT_READY', 'OVERLOADED'];
  expect(Object.keys(report.failedByCode).filter((c) => !transient.includes(c))).toEqual([]);
  expect(report.succeeded / report.sent).toBeGreaterThanOrEqual(0.99);
}, 420_000);
