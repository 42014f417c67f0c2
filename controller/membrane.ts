/**
 * The controller's side of the membrane (membrane/, docs/security.md): with
 * `--membrane-keys DIR` (or `--membrane-keys-secret NS/NAME`, as deploy/ runs it) and
 * `--membrane-nats URL` it holds the account signing key and mints every
 * credential on the bus — CapabilityGrants' user JWTs and the account push (grants/), and each
 * ProviderInstance's host credential (credentials/host.ts). Without it neither happens.
 */
import { KEY_FILES, MembraneAuthority, type PushReport } from '../membrane/authority.js';
import { MembraneError } from '../client/membrane-errors.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import type { ControllerMetrics } from './metrics.js';

export interface MembraneConfig {
  authority: MembraneAuthority;
  /** The NATS servers account updates are pushed to. */
  servers: string | string[];
}

/** Where deploy/ keeps the membrane's seeds: a namespace no agent may read (deploy/base/rbac-controller.yaml). */
export const MEMBRANE_KEYS_SECRET = 'gantry-membrane/gantry-membrane-keys';

/**
 * The authority from the membrane's Secret, read through the API as the controller's own
 * ServiceAccount (a pod cannot mount a Secret from another namespace, and reading it keeps
 * the seeds off the node's disk). `ref` is `namespace/name`.
 */
export async function membraneAuthorityFromSecret(kube: KubeClient, ref: string): Promise<MembraneAuthority> {
  const [namespace, name, ...rest] = ref.split('/');
  if (!namespace || !name || rest.length)
    throw new MembraneError('KEYS_INVALID', `the membrane keys Secret must be given as namespace/name, not ${JSON.stringify(ref)}`);
  let secret: { data?: Record<string, string> };
  try {
    secret = await kube.get(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`);
  } catch (err) {
    throw new MembraneError(
      'KEYS_INVALID',
      `cannot read the membrane keys Secret ${ref}: ${(err as Error).message}; create it with \`gantry membrane init\`, or move an older install's from gantry-system (docs/operations.md, "Membrane keys in their own namespace")`,
    );
  }
  const seed = (file: string) => {
    const b64 = secret.data?.[file];
    if (typeof b64 !== 'string') throw new MembraneError('KEYS_INVALID', `the membrane keys Secret ${ref} has no ${file}`);
    return Buffer.from(b64, 'base64').toString('utf8');
  };
  return MembraneAuthority.fromSeeds({
    operator: seed(KEY_FILES.operator),
    system: seed(KEY_FILES.system),
    account: seed(KEY_FILES.account),
  });
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
