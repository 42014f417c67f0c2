/**
 * What the autoscaler (controller/autoscale/), the activation responder
 * (controller/activation/) and the external metrics API (controller/metrics-api/) share.
 * Pure types: each side is built and tested on its own, and controller/index.ts wires them.
 */

/** A Provider's call figures over the autoscaler's window, from its instances' load reports (client/load.ts). */
export interface ProviderFigures {
  /** Calls answered per second, summed over the reporting instances (OVERLOADED rejections included). */
  callsPerSecond: number;
  /** Mean calls in flight, summed over the reporting instances. */
  inFlight: number;
  /** Calls refused OVERLOADED per second, summed. */
  overloadedPerSecond: number;
  /** Instances with a report inside the window. */
  reporting: number;
  /** ms since the epoch of the last call any instance reported (undefined: none seen). */
  lastCallAt?: number;
}

/** Where figures come from (the autoscaler's LoadStore); undefined when no instance of it reports. */
export interface ProviderFiguresSource {
  figures(namespace: string, provider: string, nowMs?: number): ProviderFigures | undefined;
}

export type ActivateOutcome =
  | { ok: true; provider: string }
  | { ok: false; code: 'NOT_FOUND' | 'NOT_ACTIVATABLE' | 'ACTIVATION_FAILED'; message: string };

/**
 * Scales a Provider with spec.autoscale from 0 to 1 at once (reason Activated, recorded like any
 * other scale), and restarts its idle clock so it is not scaled back to zero before the call
 * arrives. A Provider already above zero is left as is (ok). Only the leader acts.
 */
export interface Activator {
  activate(namespace: string, provider: string, caller: string): Promise<ActivateOutcome>;
}
