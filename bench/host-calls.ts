/**
 * Calls through a provider host vs a plain NATS responder, in one run.
 *
 * Workload: keyvalue Get of a 128-byte value, 64 requests in flight, from one caller process.
 *  - host:     a ProviderHost (its own process) serving providers/build/keyvalue.so, i.e. the
 *              real path: NATS → guards → batched to the host's call threads → reply.
 *  - baseline: a plain NATS request/reply responder in its own Node process doing the same
 *              work — the same keyvalue.so, called synchronously through koffi on the event
 *              loop (no thread hop, no guards, no timeouts) — with the same headers.
 *  - host-rs:  the same host serving providers/build/keyvalue-rs.so, the Rust SDK's keyvalue
 *              (same operations, byte-identical replies), beside the C one.
 *  - host-uncounted: the C host with its call counting off (GANTRY_HOST_CALL_STATS=0: no
 *              per-call metrics, no load reports), so the ratio counted/uncounted is what
 *              counting costs (agent/host/call-stats.ts; aim ≥ 0.95).
 *  - host-untraced / host-traced: the C host called from a caller process of its own, with
 *              tracing off (the SDK never loaded) and on (caller and host exporting every call's
 *              trace to a real OpenTelemetry Collector, scripts/otelcol.sh): bench/host-calls-tracing.ts.
 * Prints calls/s, p50/p99 latency for each and the throughput ratios host/baseline,
 * counted/uncounted, Rust/C host and traced/untraced; what counting and tracing off add to one call; then the bare cost of one synchronous handle_call (Get, reply decoded and freed)
 * into each library, in the calling thread, without NATS.
 *
 * NATS runs with the membrane (operator mode, full resolver) unless --no-auth: every host and
 * the baseline responder connect with their own instance's host credentials, the caller with
 * a grantee's (Get and Set on the three providers), as in a cluster.
 *
 * Run: npm run build && make -C providers && node dist/bench/host-calls.js [--seconds N] [--no-auth] [--tracing-only]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { ProviderHost } from '../agent/host/index.js';
import { CallStats } from '../agent/host/call-stats.js';
import { GantryStatus, NativeProvider } from '../agent/host/native.js';
import { callProvider } from '../client/call.js';
import { connectNats, natsConnectionOptions, natsUserKey } from '../client/nats.js';
import { HEADER_INSTANCE, parseCallSubject, providerSubject } from '../client/protocol.js';
import { MembraneAuthority } from '../membrane/authority.js';
import { granteePermissions, hostPermissions } from '../membrane/permissions.js';
import { packageRoot } from '../runtime/paths.js';
import { type BenchNats, startBenchNats } from './support/local-nats.js';
import { GET, IN_FLIGHT, load, NS, type Result, sum } from './host-calls-load.js';
import { measureTracing, printTracing, runCaller, startTracingBench, tracingOffCost } from './host-calls-tracing.js';

/** The caller's user key (the call subjects' last token) when NATS runs with the membrane. */
let CALLER: string | undefined;
const VALUE = 'v'.repeat(128 - 2); // a JSON string of 128 bytes with its quotes

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The baseline responder (runs in a child process: `host-calls.js --responder URL PROVIDER`). */
async function runResponder(url: string, provider: string, credsFile?: string): Promise<void> {
  const lib = NativeProvider.load(join(packageRoot(), 'providers', 'build', 'keyvalue.so'));
  const nc = await connectNats({ servers: url, credsFile });
  const ok = natsHeaders();
  ok.set(HEADER_INSTANCE, 'baseline');
  const subject = providerSubject(NS, provider);
  nc.subscribe(`${subject}.*.*`, {
    queue: subject,
    callback: (err, msg) => {
      if (err) return;
      const call = parseCallSubject(msg.subject, subject);
      const r = lib.callSync(call?.caller ?? '', call?.op ?? '', msg.data);
      if (r.status === GantryStatus.OK) msg.respond(r.body, { headers: ok });
      else msg.respond(r.body);
    },
  });
  await nc.flush();
  process.send?.('ready');
  process.on('disconnect', () => void nc.close().then(() => process.exit(0)));
}

/** One synchronous Get into each library on this thread: the SDK's own cost, without NATS. */
function directCalls(): void {
  const N = 200_000;
  const perCall: Record<string, number> = {};
  const libs = { C: 'keyvalue.so', Rust: 'keyvalue-rs.so' } as const;
  const loaded = Object.fromEntries(
    Object.entries(libs).map(([k, f]) => [k, NativeProvider.load(join(packageRoot(), 'providers', 'build', f))]),
  );
  for (const p of Object.values(loaded)) p.callSync('', 'Set', new TextEncoder().encode(`{"key":"bench-key","value":"${VALUE}"}`));
  for (let round = 0; round < 2; round++) {
    for (const [k, p] of Object.entries(loaded)) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < N; i++) p.callSync('', 'Get', GET);
      const ns = Number(process.hrtime.bigint() - t) / N;
      if (round === 1) perCall[k] = ns; // the first round warms up
    }
  }
  console.log(
    `direct handle_call (Get, 128 B value, koffi on one thread, ${N} calls): C ${(perCall.C! / 1000).toFixed(2)} µs, Rust ${(perCall.Rust! / 1000).toFixed(2)} µs per call (Rust/C ${(perCall.Rust! / perCall.C!).toFixed(2)})`,
  );
}

/**
 * What counting adds to one call on the host's event loop (CallStats.begin + end, a clock read
 * each), beside what one call costs the host at the measured rate: a figure the shared
 * machine's noise does not swamp, unlike the counted/uncounted throughput ratio.
 */
function countingCost(hostRate: number): void {
  const N = 1_000_000;
  const stats = new CallStats(true);
  let perCall = 0;
  for (let round = 0; round < 2; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const start = performance.now();
      stats.begin(start);
      stats.end('Get', 'OK', start);
    }
    perCall = Number(process.hrtime.bigint() - t) / N; // the first round warms up
  }
  const budgetNs = 1e9 / hostRate;
  console.log(
    `counting per call (CallStats begin+end, ${N} calls): ${perCall.toFixed(0)} ns, ${((100 * perCall) / budgetNs).toFixed(2)} % of a call's ${(budgetNs / 1000).toFixed(1)} µs at the host's measured rate (aim < 5 %)`,
  );
}

/** Credentials files in the NATS scratch dir: a host's for each provider, and the caller's (none without the membrane). */
function membraneCreds(nats: BenchNats, authority: MembraneAuthority | undefined) {
  const creds = (name: string, c: string) => {
    const f = join(nats.dir, `${name}.creds`);
    writeFileSync(f, c, { mode: 0o600 });
    return f;
  };
  const hostCreds = (provider: string) =>
    authority
      ? creds(
          provider,
          authority.mintUser(provider, (k) =>
            hostPermissions(k, { namespace: NS, provider, instance: `${provider}-0`, capid: 'wascap:keyvalue' }),
          ).creds!,
        )
      : undefined;
  // The caller: a grantee of Get and Set on the three providers.
  const callerCreds = authority
    ? creds(
        'caller',
        authority.mintUser('bench-caller', (k) => {
          const perms = ['kv-host', 'kv-host-rs', 'kv-baseline', 'kv-host-uncounted', 'kv-host-traced'].map((p) =>
            granteePermissions(k, NS, { provider: p }, ['Get', 'Set']),
          );
          return {
            pub: { allow: perms.flatMap((x) => x.pub.allow ?? []) },
            sub: { allow: [...new Set(perms.flatMap((x) => x.sub.allow ?? []))] },
            resp: perms[0].resp,
          };
        }).creds!,
      )
    : undefined;
  return { hostCreds, callerCreds };
}

/** A ProviderHost serving `library` (in providers/build/) as `provider`, instance `<provider>-0`. */
function keyvalueHost(
  library: string,
  provider: string,
  url: string,
  credsFile: string | undefined,
  env?: NodeJS.ProcessEnv,
): ProviderHost {
  return new ProviderHost(
    {
      libraryPath: join(packageRoot(), 'providers', 'build', library),
      expectedCapid: 'wascap:keyvalue',
      namespace: NS,
      provider,
      instance: `${provider}-0`,
      nats: { servers: url, credsFile },
    },
    env ? { env } : {},
  );
}

/** The baseline responder as its own process; resolves once it subscribed. */
async function forkBaseline(url: string, credsFile: string | undefined): Promise<ChildProcess> {
  const baseline = fork(fileURLToPath(import.meta.url), ['--responder', url, 'kv-baseline', ...(credsFile ? [credsFile] : [])], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    baseline.once('message', () => resolve());
    baseline.once('exit', (c) => reject(new Error(`baseline responder exited with ${c}`)));
  });
  return baseline;
}

/** The three sides, alternated so drift on a shared machine hits them alike: two halves of `seconds` each. */
type Side = 'baseline' | 'host' | 'hostRs' | 'hostUncounted';

async function measure(nc: NatsConnection, seconds: number): Promise<Record<Side, Result[]>> {
  const runs: Record<Side, Result[]> = { baseline: [], host: [], hostRs: [], hostUncounted: [] };
  for (let i = 0; i < 2; i++) {
    runs.baseline.push(await load(nc, 'kv-baseline', seconds / 2, CALLER));
    runs.host.push(await load(nc, 'kv-host', seconds / 2, CALLER));
    runs.hostRs.push(await load(nc, 'kv-host-rs', seconds / 2, CALLER));
    runs.hostUncounted.push(await load(nc, 'kv-host-uncounted', seconds / 2, CALLER));
  }
  return runs;
}

function printResults(runs: Record<Side, Result[]>, replyBytes: number, seconds: number, auth: boolean): void {
  const b = sum(runs.baseline);
  const h = sum(runs.host);
  console.log(
    `keyvalue Get, reply ${replyBytes} B, ${IN_FLIGHT} in flight, ${seconds} s each (in two alternating halves); NATS ${auth ? 'with the membrane: every side authenticated (operator mode, user JWTs with permissions)' : 'without authentication (--no-auth)'}`,
  );
  console.log(
    `baseline  plain NATS responder, keyvalue.so via synchronous koffi: ${b.rate.toFixed(0).padStart(7)} calls/s  p50 ${b.p50.toFixed(2)} ms  p99 ${b.p99.toFixed(2)} ms  errors ${b.errors}`,
  );
  console.log(
    `host      ProviderHost process, batched call threads + guards:    ${h.rate.toFixed(0).padStart(7)} calls/s  p50 ${h.p50.toFixed(2)} ms  p99 ${h.p99.toFixed(2)} ms  errors ${h.errors}`,
  );
  const r = sum(runs.hostRs);
  console.log(
    `host-rs   ProviderHost process, keyvalue-rs.so (Rust SDK):        ${r.rate.toFixed(0).padStart(7)} calls/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`,
  );
  const u = sum(runs.hostUncounted);
  console.log(
    `host-uncounted  the C host, call counting off:               ${u.rate.toFixed(0).padStart(7)} calls/s  p50 ${u.p50.toFixed(2)} ms  p99 ${u.p99.toFixed(2)} ms  errors ${u.errors}`,
  );
  console.log(`ratio host/baseline throughput: ${(h.rate / b.rate).toFixed(2)} (aim >= 0.8)`);
  console.log(
    `ratio counted/uncounted host throughput: ${(h.rate / u.rate).toFixed(3)} (aim >= 0.95: what call metrics and load reports cost)`,
  );
  console.log(`ratio Rust/C host throughput: ${(r.rate / h.rate).toFixed(2)} (aim ~1: the SDK's boundary costs little beside NATS)`);
}

async function main(): Promise<void> {
  const seconds = arg('--seconds', 3);
  const auth = !process.argv.includes('--no-auth');
  // only the tracing sides: before/after comparisons of tracing's cost, alternated run by run
  const tracingOnly = process.argv.includes('--tracing-only');
  const authority = auth ? MembraneAuthority.generate() : undefined;
  const nats = await startBenchNats('gantry-bench-nats-', (dir) => {
    if (!authority) return '';
    mkdirSync(join(dir, 'jwt'));
    // The caller is one user granted Get and Set on four providers (a cluster mints one user per
    // grant): its JWT makes a CONNECT line over nats-server's default max_control_line of 4 KiB,
    // which nats-server 2.9 enforces on CONNECT too — it closes the connection and the client
    // only sees its dial time out.
    return `max_control_line: 16384\n${authority.serverConfig(join(dir, 'jwt'))}`;
  });
  const { hostCreds, callerCreds } = membraneCreds(nats, authority);
  let nc: NatsConnection | undefined;
  let baseline: ChildProcess | undefined;
  const hostRs = keyvalueHost('keyvalue-rs.so', 'kv-host-rs', nats.url, hostCreds('kv-host-rs'));
  const host = keyvalueHost('keyvalue.so', 'kv-host', nats.url, hostCreds('kv-host'));
  const uncounted = keyvalueHost('keyvalue.so', 'kv-host-uncounted', nats.url, hostCreds('kv-host-uncounted'), {
    GANTRY_HOST_CALL_STATS: '0',
  });
  // the C host again, tracing every call to a real collector (bench/host-calls-tracing.ts)
  const tracing = await startTracingBench();
  const traced = tracing && keyvalueHost('keyvalue.so', 'kv-host-traced', nats.url, hostCreds('kv-host-traced'), tracing.hostEnv);
  try {
    // noAsyncTraces: nats.js otherwise builds two Error objects (with stacks) per request.
    nc = await connect({ ...natsConnectionOptions({ servers: nats.url, credsFile: callerCreds }), noAsyncTraces: true });
    CALLER = callerCreds ? natsUserKey({ servers: nats.url, credsFile: callerCreds }) : undefined;
    await host.start();
    await hostRs.start();
    await uncounted.start();
    await traced?.start();
    baseline = await forkBaseline(nats.url, auth ? hostCreds('kv-baseline') : undefined);
    for (const p of ['kv-host', 'kv-baseline', 'kv-host-rs', 'kv-host-uncounted', ...(traced ? ['kv-host-traced'] : [])]) {
      await callProvider(nc, { namespace: NS, provider: p, op: 'Set', data: `{"key":"bench-key","value":"${VALUE}"}`, caller: CALLER });
    }
    const reply = await callProvider(nc, { namespace: NS, provider: 'kv-host', op: 'Get', data: GET, caller: CALLER });
    const rsReply = await callProvider(nc, { namespace: NS, provider: 'kv-host-rs', op: 'Get', data: GET, caller: CALLER });
    if (Buffer.compare(rsReply.reply, reply.reply) !== 0) throw new Error('keyvalue-rs answered Get differently from keyvalue.c');
    const runs = tracingOnly ? undefined : await measure(nc, seconds);
    if (runs) printResults(runs, reply.reply.length, seconds, auth);
    if (tracing)
      printTracing(
        await measureTracing(
          tracing,
          { url: nats.url, seconds, creds: callerCreds, caller: CALLER },
          { off: host.pid, traced: traced?.pid },
        ),
        tracing,
      );
    if (!runs) return;
    directCalls();
    countingCost(sum(runs.host).rate);
    tracingOffCost(sum(runs.host).rate);
  } finally {
    baseline?.kill('SIGTERM');
    await hostRs.stop();
    await uncounted.stop();
    await traced?.stop();
    await tracing?.stop();
    await host.stop();
    await nc?.close();
    await authority?.close();
    await nats.stop();
  }
}

if (process.argv[2] === '--responder') {
  void runResponder(process.argv[3]!, process.argv[4]!, process.argv[5]);
} else if (process.argv[2] === '--caller') {
  void runCaller(process.argv.slice(3));
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
