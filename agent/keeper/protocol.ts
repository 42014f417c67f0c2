/**
 * The host keeper's protocol: how an agent asks the per-node keeper (`gantry host-keeper`) to
 * run, stop and renew provider hosts, and hears what they do.
 *
 * Why a keeper: provider hosts used to be the agent's own children, so replacing the agent (a
 * crash, a DaemonSet upgrade) killed every host on the node. The keeper is a small, rarely
 * upgraded process (its own DaemonSet pod, updateStrategy OnDelete) that is the parent of every
 * host; an agent is a client of it. When an agent goes away its hosts keep serving calls over
 * NATS; the next agent connects, lists them and adopts the ones whose spec is unchanged
 * (`start` of an instance uid the keeper already runs with the same spec digest answers at
 * once, with no new process).
 *
 * Wire: a Unix stream socket (0600, in a 0700 directory both pods mount), one JSON object per
 * line each way. The agent sends Requests, each with an `id`; the keeper answers each with a
 * Reply of that id, and sends HostEvents as they happen. One agent at a time: a new
 * connection's `hello` takes over (events go to it alone), and the keeper closes the previous one.
 *
 * Versions: `hello` carries PROTOCOL_VERSION; a keeper answers KEEPER_VERSION_MISMATCH to a
 * major it does not speak, and the agent refuses to start (docs/upgrades.md, version skew).
 */
import type { CallsSnapshot } from '../host/call-stats.js';
import type { HostSpec } from '../host/spec.js';

export const PROTOCOL_VERSION = 1;

/** How the keeper supervises one host (the ProviderHost options that cross the socket). */
export interface KeeperHostOptions {
  memoryLimitBytes?: number;
  memoryCheckMs?: number;
  startTimeoutMs?: number;
}

export type Request =
  | { id: number; op: 'hello'; version: number; node: string }
  /** Run the instance's host, or adopt the running one when its spec digest is the same. */
  | { id: number; op: 'start'; uid: string; spec: HostSpec; options?: KeeperHostOptions }
  | { id: number; op: 'stop'; uid: string }
  | { id: number; op: 'renew'; uid: string }
  | { id: number; op: 'list' };

/** What the keeper says about one host it runs (`list`, and `start`'s reply). */
export interface KeptHost {
  uid: string;
  namespace: string;
  instance: string;
  /** SHA-256 over the canonical JSON of the spec the host was started with. */
  specDigest: string;
  state: 'starting' | 'ready' | 'backoff' | 'failed' | 'stopped';
  pid?: number;
  restartCount: number;
  healthy: boolean;
  /** true in `start`'s reply when the host was already running (adopted, not started). */
  adopted?: boolean;
}

export type Reply =
  | { id: number; ok: true; hosts?: KeptHost[]; host?: KeptHost; version?: number }
  /** `code`: a KeeperErrorCode, or the HostError code a host's first start failed with (BAD_SPEC, LOAD_FAILED…). */
  | { id: number; ok: false; code: string; message: string };

export type KeeperErrorCode = 'KEEPER_VERSION_MISMATCH' | 'KEEPER_BAD_REQUEST' | 'KEEPER_UNKNOWN_HOST' | 'KEEPER_NO_HELLO';

/** A host's events, as ProviderHost emits them (agent/host/supervisor.ts), tagged with the instance uid. */
export type HostEvent =
  | { event: 'spawned'; uid: string; pid: number }
  | { event: 'ready'; uid: string; pid?: number }
  | { event: 'health'; uid: string; healthy: boolean; message: string }
  | { event: 'calls'; uid: string; stats: CallsSnapshot }
  | {
      event: 'crash';
      uid: string;
      code: number | null;
      signal: string | null;
      restartCount: number;
      nextDelayMs: number;
      error?: { code: string; message: string };
    }
  | { event: 'failed'; uid: string; code: string; message: string }
  | { event: 'renewed'; uid: string; ms: number }
  | { event: 'stopped'; uid: string };
