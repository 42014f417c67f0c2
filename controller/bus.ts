/**
 * The controller's own connection to the bus: it reads the hosts' load reports (client/load.ts)
 * into the autoscaler's LoadStore, and carries the activation responder (controller/activation/).
 *
 * With the membrane the controller mints its own user (membrane/permissions.ts
 * controllerBusPermissions: subscribe to load reports and activation requests, publish only
 * replies) and connects over the bus TLS the authority uses; its JWT is re-minted for the same
 * key when two thirds of its lifetime have passed, and the next (re)connect presents the new one.
 * Without the membrane, `--nats URL` connects plainly (tests, development).
 *
 * A report is data from a host running native code: a malformed one, or one naming another
 * instance than its subject, is counted and dropped, never trusted and never a crash.
 */
import { connect, jwtAuthenticator, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { decodeJwt } from '../client/jwt.js';
import { ALL_LOAD_SUBJECTS } from '../client/load.js';
import { inboxPrefix } from '../client/protocol.js';
import { controllerBusPermissions } from '../membrane/permissions.js';
import { GantryError } from '../runtime/errors.js';
import type { Logger } from '../runtime/log.js';
import type { LoadStore } from './autoscale/load-store.js';
import { takeReport } from './autoscale/reports.js';
import type { MembraneConfig } from './membrane.js';

export interface BusOptions {
  /** With it: a minted user over the bus TLS to membrane.servers. */
  membrane?: MembraneConfig;
  /** Without the membrane: a plain NATS URL (--nats). */
  servers?: string | string[];
  /** The controller's bus JWT lifetime (default 1 h; the authority bounds it). */
  jwtLifetimeMs?: number;
  log: Logger;
  store: LoadStore;
  /** Counts each report by result (ControllerMetrics.loadReports). */
  counted?(result: string): void;
  now?(): number;
}

export interface ControllerBus {
  /** The connection (the activation responder subscribes on it). */
  readonly nc: NatsConnection;
  /** The controller's user key under the membrane. */
  readonly userKey?: string;
  close(): Promise<void>;
}

const DEFAULT_LIFETIME_MS = 3600_000;

/** Connects and subscribes to every load report; resolves once the subscription is in place. */
export async function connectControllerBus(o: BusOptions): Promise<ControllerBus> {
  const now = o.now ?? Date.now;
  let renew: NodeJS.Timeout | undefined;
  let nc: NatsConnection;
  let userKey: string | undefined;
  const common = { name: 'gantry-controller', maxReconnectAttempts: -1, reconnectTimeWait: 500 };
  if (o.membrane) {
    const { authority, servers } = o.membrane;
    const lifetimeMs = o.jwtLifetimeMs ?? DEFAULT_LIFETIME_MS;
    const mint = (key?: string) =>
      authority.mintUser('gantry-controller', controllerBusPermissions, { userKey: key, exp: Math.floor((now() + lifetimeMs) / 1000) });
    const first = mint();
    userKey = first.userKey;
    let jwt = first.jwt;
    const seed = new TextEncoder().encode(first.seed!);
    const schedule = () => {
      const { iat, exp } = decodeJwt(jwt);
      const at = (iat ?? 0) * 1000 + (((exp ?? 0) - (iat ?? 0)) * 1000 * 2) / 3;
      renew = setTimeout(
        () => {
          jwt = mint(userKey).jwt;
          o.log.debug({ userKey }, 'controller bus JWT renewed');
          schedule();
        },
        Math.max(1000, at - now()),
      );
      renew.unref?.();
    };
    nc = await reach(servers, {
      ...common,
      servers,
      inboxPrefix: inboxPrefix(userKey),
      authenticator: jwtAuthenticator(
        () => jwt,
        () => seed,
      ),
      ...(authority.busTls ? { tls: { ...authority.busTls } } : {}),
    });
    schedule();
  } else {
    if (!o.servers) throw new Error('connectControllerBus: neither the membrane nor --nats names a server');
    nc = await reach(o.servers, { ...common, servers: o.servers });
  }
  const sub = nc.subscribe(ALL_LOAD_SUBJECTS);
  void readReports(sub, o, now);
  await nc.flush();
  return {
    nc,
    userKey,
    async close() {
      clearTimeout(renew);
      sub.unsubscribe();
      await nc.drain().catch(() => nc.close());
    },
  };
}

/** Connects, or says which bus could not be reached (the controller does not start without its bus). */
async function reach(servers: string | string[], opts: Parameters<typeof connect>[0]): Promise<NatsConnection> {
  try {
    return await connect(opts);
  } catch (err) {
    throw new GantryError('BUS_UNREACHABLE', `cannot connect to the bus at ${[servers].flat().join(',')}: ${(err as Error).message}`);
  }
}

async function readReports(sub: Subscription, o: BusOptions, now: () => number): Promise<void> {
  for await (const m of sub) {
    const result = takeReport(m.subject, m.data, o.store, now());
    o.counted?.(result);
    if (result === 'malformed' || result === 'foreign-instance') o.log.debug({ subject: m.subject, result }, 'load report dropped');
  }
}
