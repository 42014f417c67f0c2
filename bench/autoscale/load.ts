/**
 * The autoscale bench's load generator, in its own process (forked by bench/autoscale.ts) so its
 * event loop is not the one the controller, agent and API emulator share: open loop — calls are
 * sent on a clock at `rate` a second whatever the replies do (a closed loop would slow down
 * exactly when the Provider is short of instances, and hide it), each with its own deadline.
 *
 * Protocol (IPC): the child sends {ready}; the parent sends {go}; the child sends one
 * LoadResult when every call has been answered or failed, then exits.
 */
import { connect } from '@nats-io/transport-node';
import { CallError, callProvider } from '../../client/call.js';
import { natsConnectionOptions, natsUserKey } from '../../client/nats.js';

export interface LoadPlan {
  url: string;
  credsFile: string;
  namespace: string;
  provider: string;
  /** calls a second, paced */
  rate: number;
  seconds: number;
  timeoutMs: number;
  retries: number;
}

export interface LoadResult {
  /** epoch ms of the first call (the step) and just after the last one was sent */
  startedAt: number;
  endedAt: number;
  /** per call: ms after startedAt it was sent, its latency in ms, its code (OK or the CallError's) */
  sentAt: number[];
  latency: number[];
  code: string[];
}

async function run(plan: LoadPlan): Promise<void> {
  const o = { servers: plan.url, credsFile: plan.credsFile };
  // noAsyncTraces: nats.js otherwise builds two Error objects (with stacks) per request
  const nc = await connect({ ...natsConnectionOptions(o), noAsyncTraces: true });
  const caller = natsUserKey(o);
  process.send?.({ ready: true });
  await new Promise<void>((r) => process.once('message', () => r()));
  const r: LoadResult = { startedAt: Date.now(), endedAt: 0, sentAt: [], latency: [], code: [] };
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  const fire = () => {
    const i = r.sentAt.length;
    const sent = performance.now();
    r.sentAt.push(sent - t0);
    r.latency.push(Number.NaN);
    r.code.push('');
    pending.push(
      callProvider(nc, {
        namespace: plan.namespace,
        provider: plan.provider,
        op: 'Echo',
        data: 'x',
        timeoutMs: plan.timeoutMs,
        caller,
        retry: plan.retries,
      }).then(
        () => {
          r.latency[i] = performance.now() - sent;
          r.code[i] = 'OK';
        },
        (e: unknown) => {
          r.latency[i] = performance.now() - sent;
          r.code[i] = e instanceof CallError ? e.code : String(e);
        },
      ),
    );
  };
  const durationMs = plan.seconds * 1000;
  for (let elapsed = 0; elapsed < durationMs; elapsed = performance.now() - t0) {
    // every call due by now, so a late timer sends a burst rather than lowering the rate
    const due = Math.floor((elapsed * plan.rate) / 1000);
    while (r.sentAt.length < due) fire();
    await new Promise((res) => setTimeout(res, 1));
  }
  r.endedAt = Date.now();
  await Promise.all(pending);
  await nc.close();
  process.send?.(r, () => process.exit(0));
}

const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
run(plan).catch((e) => {
  console.error('load generator:', e);
  process.exit(1);
});
