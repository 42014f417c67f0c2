/**
 * Load reports: what each provider host tells the controller about the calls it serves, so the
 * controller can scale a Provider with `spec.autoscale` (docs/autoscaling.md).
 *
 * Every `HostSpec.loadReportMs` (default 1000 ms) a host publishes one JSON LoadReport on
 * `gantry.<ns>.load.<provider>.<instance>`. Under the membrane a host may publish only on its own
 * instance's subject (membrane/permissions.ts hostPermissions) and only the controller's bus user
 * may subscribe (controllerBusPermissions): a fallen node can misreport its own instances' load,
 * never another's. Counters are cumulative since the host began counting (`startedAt`), so a lost
 * report loses no calls; a restarted host starts again from 0 with a new `startedAt`.
 */
import { subjectToken } from './protocol.js';

export const LOAD_REPORT_VERSION = 1;

export interface LoadReport {
  v: typeof LOAD_REPORT_VERSION;
  /** The ProviderInstance's name. */
  instance: string;
  /** ms since the epoch at the host when the report was made. */
  at: number;
  /** ms since the epoch when this host began counting (a new value means counters restarted from 0). */
  startedAt: number;
  /** Calls answered since startedAt, any result (OVERLOADED rejections included). */
  calls: number;
  /** Calls refused OVERLOADED since startedAt (the in-flight limit). */
  overloaded: number;
  /** Calls running now. */
  inFlight: number;
  /**
   * Integral of in-flight calls over time since startedAt, in call·milliseconds: the mean
   * concurrency between two reports is Δbusy / Δat.
   */
  busyMs: number;
  /** The host is subscribed to its queue groups (healthy, not stopping): it takes calls. */
  serving: boolean;
}

/** The subject one instance's load reports go to. */
export function loadSubject(namespace: string, provider: string, instance: string): string {
  return `gantry.${subjectToken(namespace)}.load.${subjectToken(provider)}.${subjectToken(instance)}`;
}

/** Every load report of every namespace (what the controller subscribes to). */
export const ALL_LOAD_SUBJECTS = 'gantry.*.load.*.*';

export function encodeLoadReport(r: LoadReport): Uint8Array {
  return Buffer.from(JSON.stringify(r));
}

const counter = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/**
 * A LoadReport from bytes, or the reason it is not one (reports come from hosts, which run
 * native provider code: nothing in them is trusted beyond its shape and range).
 */
export function parseLoadReport(data: Uint8Array): LoadReport | string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return 'not a JSON object';
  if (o.v !== LOAD_REPORT_VERSION) return `unknown version ${JSON.stringify(o.v)}`;
  if (typeof o.instance !== 'string' || !o.instance) return 'instance missing';
  for (const k of ['at', 'startedAt', 'calls', 'overloaded', 'inFlight', 'busyMs'] as const)
    if (!counter(o[k])) return `${k} is not a finite number ≥ 0`;
  if (typeof o.serving !== 'boolean') return 'serving is not a boolean';
  if ((o.overloaded as number) > (o.calls as number)) return 'overloaded exceeds calls';
  return {
    v: LOAD_REPORT_VERSION,
    instance: o.instance,
    at: o.at as number,
    startedAt: o.startedAt as number,
    calls: o.calls as number,
    overloaded: o.overloaded as number,
    inFlight: o.inFlight as number,
    busyMs: o.busyMs as number,
    serving: o.serving,
  };
}
