/**
 * What the encrypted bus costs (issue 28): host calls over TLS against the same calls in
 * plain text, side by side in one run.
 *
 * Workload: bench/host-calls's — keyvalue Get of a 128-byte value, 64 requests in flight,
 * from one caller — on two nats-servers with the membrane (operator mode, user JWTs), one
 * plain and one configured as deploy/ and the sandbox run it (TLS required of clients, the
 * certificate from a Gantry CA made by membrane/bus-pki.ts). A ProviderHost serving
 * keyvalue.so on each, and one caller connection to each; the two sides alternate in four
 * quarters so drift on a shared machine hits both alike. Prints calls/s, p50/p99 and the
 * throughput ratio TLS/plain (aim ≥ 0.8).
 *
 * Run: npm run build && make -C providers && node dist/bench/host-calls-tls.js [--seconds N]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ProviderHost } from '../agent/host/index.js';
import { callProvider } from '../client/call.js';
import { natsConnectionOptions, natsUserKey, type NatsOptions } from '../client/nats.js';
import { MembraneAuthority } from '../membrane/authority.js';
import { ensureBusCa, issueNatsServerCert } from '../membrane/bus-pki.js';
import { type BusTlsFiles, natsClientTlsConfig } from '../membrane/bus-tls.js';
import { granteePermissions, hostPermissions } from '../membrane/permissions.js';
import { packageRoot } from '../runtime/paths.js';
import { type BenchNats, startBenchNats } from './support/local-nats.js';

const NS = 'bench';
const IN_FLIGHT = 64;
const VALUE = 'v'.repeat(128 - 2);
const GET = new TextEncoder().encode('{"key":"bench-key"}');

interface Side {
  name: 'plain' | 'tls';
  nats: BenchNats;
  nc: NatsConnection;
  caller: string;
  host: ProviderHost;
}

async function load(s: Side, seconds: number): Promise<{ calls: number; seconds: number; lat: number[]; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const warmupEnd = Date.now() + 300;
  const end = warmupEnd + seconds * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      try {
        await callProvider(s.nc, { namespace: NS, provider: 'kv', op: 'Get', data: GET, timeoutMs: 10_000, caller: s.caller });
        if (Date.now() >= warmupEnd) lat.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { calls: lat.length, seconds: (performance.now() - t) / 1000 - 0.3, lat, errors };
}

/** A server with the membrane, plain or with TLS; a keyvalue host on it; a caller connection to it. */
async function side(name: Side['name'], authority: MembraneAuthority, tls: BusTlsFiles | undefined): Promise<Side> {
  const nats = await startBenchNats(`gantry-bench-${name}-`, (dir) => {
    mkdirSync(join(dir, 'jwt'));
    return (tls ? natsClientTlsConfig(tls) : '') + authority.serverConfig(join(dir, 'jwt'));
  });
  const url = tls ? nats.url.replace('nats://', 'tls://') : nats.url;
  const clientTls = tls ? { caFile: tls.caFile } : undefined;
  const creds = (n: string, c: string) => {
    writeFileSync(join(nats.dir, n), c, { mode: 0o600 });
    return join(nats.dir, n);
  };
  const hostCreds = creds(
    'host.creds',
    authority.mintUser('kv', (k) => hostPermissions(k, { namespace: NS, provider: 'kv', instance: 'kv-0', capid: 'wascap:keyvalue' }))
      .creds!,
  );
  const host = new ProviderHost({
    libraryPath: join(packageRoot(), 'providers', 'build', 'keyvalue.so'),
    expectedCapid: 'wascap:keyvalue',
    namespace: NS,
    provider: 'kv',
    instance: 'kv-0',
    nats: { servers: url, credsFile: hostCreds, tls: clientTls },
  });
  await host.start();
  const callerCreds = creds(
    'caller.creds',
    authority.mintUser('caller', (k) => granteePermissions(k, NS, { provider: 'kv' }, ['Get', 'Set'])).creds!,
  );
  const o: NatsOptions = { servers: url, credsFile: callerCreds, tls: clientTls };
  // noAsyncTraces: nats.js otherwise builds two Error objects (with stacks) per request (as bench/host-calls)
  const nc = await connect({ ...natsConnectionOptions(o), noAsyncTraces: true });
  const caller = natsUserKey(o)!;
  await callProvider(nc, { namespace: NS, provider: 'kv', op: 'Set', data: `{"key":"bench-key","value":"${VALUE}"}`, caller });
  return { name, nats, nc, caller, host };
}

function summary(rs: Awaited<ReturnType<typeof load>>[]) {
  const lat = rs.flatMap((r) => r.lat).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? Number.NaN;
  const secs = rs.reduce((a, r) => a + r.seconds, 0);
  return { rate: lat.length / secs, p50: pct(0.5), p99: pct(0.99), errors: rs.reduce((a, r) => a + r.errors, 0) };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : 4;
  const authority = MembraneAuthority.generate();
  const pki = mkdtempSync(join(tmpdir(), 'gantry-bench-pki-'));
  const tls = await issueNatsServerCert(await ensureBusCa(join(pki, 'ca')), join(pki, 'server'), ['localhost', '127.0.0.1']);
  const sides = [await side('plain', authority, undefined), await side('tls', authority, tls)];
  try {
    const runs: Record<Side['name'], Awaited<ReturnType<typeof load>>[]> = { plain: [], tls: [] };
    for (let q = 0; q < 4; q++) {
      const order = q % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) runs[s.name].push(await load(s, seconds / 4));
    }
    const [p, t] = [summary(runs.plain), summary(runs.tls)];
    console.log(
      `keyvalue Get through a ProviderHost, ${IN_FLIGHT} in flight, ${seconds} s each side (four alternating quarters), membrane on`,
    );
    for (const [n, r] of [
      ['plain', p],
      ['tls  ', t],
    ] as const)
      console.log(
        `${n}  ${r.rate.toFixed(0).padStart(7)} calls/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`,
      );
    console.log(`ratio TLS/plain throughput: ${(t.rate / p.rate).toFixed(2)} (aim >= 0.8)`);
  } finally {
    for (const s of sides) {
      await s.host.stop();
      await s.nc.close();
      await s.nats.stop();
    }
    await authority.close();
    rmSync(pki, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
