/**
 * The caller's side of bench/host-calls.ts: `IN_FLIGHT` callers doing keyvalue Get for a
 * while (after a half-second warm-up), their throughput and latency, and the sum of runs.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { callProvider } from '../client/call.js';

export const NS = 'bench';
export const IN_FLIGHT = 64;
export const GET = new TextEncoder().encode('{"key":"bench-key"}');

export interface Result {
  calls: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

export async function load(nc: NatsConnection, provider: string, seconds: number, caller: string | undefined): Promise<Result> {
  const lat: number[] = [];
  let errors = 0;
  let measuring = false;
  const warmupEnd = Date.now() + 500;
  const end = warmupEnd + seconds * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      try {
        await callProvider(nc, { namespace: NS, provider, op: 'Get', data: GET, timeoutMs: 10_000, caller });
        if (measuring) lat.push(performance.now() - t0);
      } catch {
        errors++;
      }
      if (!measuring && Date.now() >= warmupEnd) measuring = true;
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsed = (performance.now() - t) / 1000 - 0.5;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? NaN;
  return { calls: lat.length, seconds: elapsed, p50: pct(0.5), p99: pct(0.99), errors };
}

export function sum(rs: Result[]) {
  const calls = rs.reduce((a, r) => a + r.calls, 0);
  const secs = rs.reduce((a, r) => a + r.seconds, 0);
  return {
    rate: calls / secs,
    p50: Math.max(...rs.map((r) => r.p50)),
    p99: Math.max(...rs.map((r) => r.p99)),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  };
}
