/**
 * A burst past resources.memory: the RSS poll vs the host's own memory cgroup, in one run.
 *
 * Workload: a ProviderHost of providers/build/faulty.so with a 96 MiB limit is sent one `Leak`
 * call that mallocs and touches 512 MiB; repeated ROUNDS times (the host restarts after each
 * kill). Modes:
 *  - rss-poll: no cgroup; the supervisor reads the host's RSS every 250 ms (the default).
 *  - cgroup:   the host in a child of a private cgroup v1 memory directory (--host-cgroup), the
 *              poll off; needs root and /sys/fs/cgroup/memory (skipped otherwise).
 * Prints, per mode: how many bursts landed (the call got its "leaked" reply: the memory was
 * resident), the host's peak memory (VmHWM sampled every 5 ms while the call runs; the
 * cgroup's own max usage in cgroup mode) and the time from the call to the host's death as
 * the supervisor reports it.
 *
 * Run: npm run build && make -C providers && node dist/bench/memory-cap.js [--rounds N]
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { type CrashInfo, ProviderHost } from '../agent/host/index.js';
import { MemoryCgroupParent } from '../agent/host/memory-cgroup-dir.js';
import { callProvider } from '../client/call.js';
import { packageRoot } from '../runtime/paths.js';
import { startBenchNats } from './support/local-nats.js';

const NS = 'bench';
const MiB = 2 ** 20;
const LIMIT = 96 * MiB;
const BURST = 512 * MiB;
const i = process.argv.indexOf('--rounds');
const ROUNDS = i >= 0 ? Number(process.argv[i + 1]) : 5;
const MEMORY_ROOT = '/sys/fs/cgroup/memory';

interface Round {
  landed: boolean;
  peakMiB: number;
  killMs: number;
}

const hwm = (pid: number) => {
  try {
    return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};

async function rounds(url: string, instance: string, cgroup?: MemoryCgroupParent): Promise<Round[]> {
  const nc = await connect({ servers: url });
  const host = new ProviderHost(
    {
      libraryPath: join(packageRoot(), 'providers', 'build', 'faulty.so'),
      namespace: NS,
      provider: 'faulty',
      instance,
      nats: { servers: url },
    },
    { memoryLimitBytes: LIMIT, backoff: { initialMs: 100, maxMs: 100 }, ...(cgroup ? { memoryCgroup: cgroup, memoryCheckMs: 0 } : {}) },
  );
  await host.start();
  const out: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const pid = host.pid as number;
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, hwm(pid));
    }, 5);
    const crashed = new Promise<CrashInfo & { at: number }>((res) =>
      host.once('crash', (c: CrashInfo) => res({ ...c, at: performance.now() })),
    );
    const ready = new Promise((res) => host.once('ready', res));
    const t0 = performance.now();
    const landed = await callProvider(nc, {
      namespace: NS,
      provider: 'faulty',
      instance,
      op: 'Leak',
      data: JSON.stringify({ bytes: BURST }),
      timeoutMs: 3000,
    }).then(
      () => {
        peak = Math.max(peak, hwm(pid));
        return true;
      },
      () => false,
    );
    const crash = await crashed;
    const killMs = crash.at - t0;
    clearInterval(sampler);
    const cgroupPeak = /peak (\d+) MiB/.exec(crash.error?.message ?? '')?.[1];
    out.push({ landed, peakMiB: cgroupPeak ? Number(cgroupPeak) : Math.round(peak / MiB), killMs });
    await ready;
  }
  await host.stop();
  await nc.close();
  return out;
}

function report(mode: string, rs: Round[]): void {
  const kill = rs.map((r) => r.killMs).sort((a, b) => a - b);
  console.log(
    `${mode.padEnd(9)} landed ${rs.filter((r) => r.landed).length}/${rs.length}   peak MiB max ${Math.max(...rs.map((r) => r.peakMiB))}` +
      `   call→killed ms p50 ${kill[Math.floor(kill.length / 2)].toFixed(0)} max ${kill[kill.length - 1].toFixed(0)}`,
  );
}

async function main(): Promise<void> {
  const nats = await startBenchNats('gantry-bench-memcap-');
  console.log(`limit ${LIMIT / MiB} MiB, burst ${BURST / MiB} MiB in one call, ${ROUNDS} rounds per mode`);
  try {
    report('rss-poll', await rounds(nats.url, 'poll-0'));
    if (process.getuid?.() !== 0 || !existsSync(join(MEMORY_ROOT, 'memory.limit_in_bytes')))
      return console.log('cgroup    skipped: needs root and cgroup v1 memory');
    const dir = join(MEMORY_ROOT, `gantry-bench-${process.pid}`);
    mkdirSync(dir);
    try {
      report('cgroup', await rounds(nats.url, 'cgroup-0', MemoryCgroupParent.open(dir, 'bench')));
    } finally {
      rmdirSync(dir);
    }
  } finally {
    await nats.stop();
  }
}

await main();
