/**
 * The controller's side of the membrane (membrane/, docs/security.md): with
 * `--membrane-keys DIR --membrane-nats URL` it holds the account signing key and mints every
 * credential on the bus — CapabilityGrants' user JWTs and the account push (grants/), and each
 * ProviderInstance's host credential (credentials/host.ts). Without it neither happens.
 */
import type { MembraneAuthority, PushReport } from '../membrane/authority.js';
import type { Logger } from '../runtime/log.js';
import type { ControllerMetrics } from './metrics.js';

export interface MembraneConfig {
  authority: MembraneAuthority;
  /** The NATS servers account updates are pushed to. */
  servers: string | string[];
}

/**
 * Every account push, whoever made it (grants, host credentials), in the metrics; a failed one
 * also in the log at error level: until a push succeeds, no revocation since the last one
 * takes effect (REVOCATIONS_TOO_LARGE says the list no longer fits in max_payload).
 */
export function reportPushes(m: MembraneConfig, log: Logger, metrics: ControllerMetrics): void {
  m.authority.onPush = (r: PushReport) => {
    metrics.membranePushes.inc({ result: r.ok ? 'ok' : (r.code ?? 'PUSH_FAILED') });
    metrics.membraneRevocations.set(r.revocations);
    if (r.bytes !== undefined) metrics.membraneAccountJwtBytes.set(r.bytes);
    if (!r.ok)
      log.error(
        { code: r.code, bytes: r.bytes, maxPayload: r.maxPayload, revocations: r.revocations, err: r.message },
        'membrane account push failed: revocations since the last successful push are not in force',
      );
  };
}
