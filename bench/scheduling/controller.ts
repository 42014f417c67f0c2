/**
 * The controller under measurement, as a user runs it (`gantry controller`), and what the
 * bench reads of it: placements and API requests from its /metrics, peak RSS and CPU from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gantryBin } from '../../runtime/paths.js';
import { cpuOf } from './cluster.js';

/** API requests the controller made, by method+resource, and reconciles run (from its /metrics). */
export interface ControllerWork {
  requests: Map<string, number>;
  reconciles: number;
}

export interface MeasuredController {
  process: ChildProcess;
  placements(): Promise<number>;
  work(): Promise<ControllerWork>;
  /** VmHWM in bytes */
  peakRss(): number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Starts the controller against `kubeconfig`, trusting `issuer`; resolves once it serves metrics. */
export async function startController(kubeconfig: string, issuer: string): Promise<MeasuredController> {
  const controller = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []),
      gantryBin(),
      'controller',
      '--kubeconfig',
      kubeconfig,
      '--trust-issuer',
      issuer,
      '--agent-lease-grace',
      '1h',
      '--metrics-addr',
      '127.0.0.1:0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } },
  );
  let stderr = '';
  const metricsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller did not start:\n${stderr}`)), 30_000);
    controller.stderr!.on('data', (d) => {
      stderr = (stderr + d).slice(-8000);
      const m = /metrics (http:\/\/[^\s]+)\/metrics/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    controller.on('exit', (code) => reject(new Error(`controller exited ${code}:\n${stderr}`)));
  });
  const metricsText = async () => (await fetch(`${metricsUrl}/metrics`)).text();
  return {
    process: controller,
    placements: async () => Number(/^gantry_controller_placements_total (\d+)/m.exec(await metricsText())?.[1] ?? 0),
    work: async () => {
      const text = await metricsText();
      const requests = new Map<string, number>();
      for (const m of text.matchAll(/^gantry_controller_api_requests_total\{method="(\w+)",resource="([^"]+)"\} (\d+)/gm))
        requests.set(`${m[1]} ${m[2]}`, Number(m[3]));
      const reconciles = [...text.matchAll(/^gantry_controller_reconcile_duration_seconds_count\{[^}]*\} (\d+)/gm)].reduce(
        (a, m) => a + Number(m[1]),
        0,
      );
      return { requests, reconciles };
    },
    peakRss: () => {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${controller.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : NaN;
    },
    cpuSeconds: () => cpuOf(controller.pid!),
    stop: async () => {
      const stopped = new Promise((r) => controller.once('exit', r));
      controller.kill('SIGTERM');
      await stopped;
    },
  };
}
