/**
 * The CapabilityGrant reconciler — level-triggered like the Provider one: from the grant as it
 * is now and the authority's revocation list, make the world match.
 *   - deleted (finalizer gantry.dev/revoke): revoke the grantee key, push the account, drop
 *     the finalizer;
 *   - invalid spec → Ready False InvalidSpec; no membrane configured → MembraneNotConfigured;
 *   - past spec.expires: revoke and push (nats-server also refuses the JWT's own `exp`) →
 *     Ready False Expired;
 *   - otherwise make sure status.userJwt is a JWT for this generation issued after the key's
 *     revocation cut-off (mint, Ready True Issued) and requeue at expiry. A changed spec
 *     revokes the old JWT first (revocation is per key, by issue time).
 * Revoking a key revokes every JWT of that key issued before: the key's other grants are
 * re-issued (their status.userJwt changes; the grantee fetches fresh creds). One key per
 * grant avoids that.
 */
import { GRANT_FINALIZER, grantSpecProblems, group, version, type CapabilityGrant } from '../../api/index.js';
import type { GrantReason } from '../../api/reasons.js';
import { decodeJwt } from '../../membrane/jwt.js';
import { granteePermissions } from '../../membrane/permissions.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { jsonEqual, setCondition } from '../../runtime/toolkit/conditions.js';
import { keyOf, type ObjectKey } from '../../runtime/toolkit/keys.js';
import type { WorkResult } from '../../runtime/toolkit/workqueue.js';
import type { MembraneConfig } from '../membrane.js';

export function grantsPath(ns?: string): string {
  return ns
    ? `/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}/capabilitygrants`
    : `/apis/${group}/${version}/capabilitygrants`;
}

export interface GrantDeps {
  membrane?: MembraneConfig;
  client: KubeClient;
  grants: { get(name: string, ns?: string): CapabilityGrant | undefined; list(): CapabilityGrant[] };
  /** Enqueue another grant (its key's JWTs were revoked). */
  requeue(grant: CapabilityGrant): void;
  log: Logger;
  now?: () => number;
}

type GrantStatus = NonNullable<CapabilityGrant['status']>;

/** One reconcile's grant, its key (`ns/name`) and its API path. */
interface Grant {
  d: GrantDeps;
  g: CapabilityGrant;
  key: string;
  path: string;
}

const sec = (ms: number) => Math.floor(ms / 1000);

export async function reconcileGrant(d: GrantDeps, key: ObjectKey): Promise<WorkResult | void> {
  const g = d.grants.get(key.name, key.namespace);
  if (!g) return;
  const at: Grant = { d, g, key: keyOf(key), path: `${grantsPath(key.namespace)}/${encodeURIComponent(key.name)}` };
  if (g.metadata.deletionTimestamp) return finalize(at);
  if (!g.metadata.finalizers?.includes(GRANT_FINALIZER)) {
    await d.client.mergePatch(at.path, {
      metadata: { finalizers: [...(g.metadata.finalizers ?? []), GRANT_FINALIZER], resourceVersion: g.metadata.resourceVersion },
    });
    return; // the update event brings it back
  }

  const problems = grantSpecProblems(g.spec);
  if (problems.length) return setReady(at, 'False', 'InvalidSpec', problems.join('; '), { userJwt: undefined });
  const m = d.membrane;
  if (!m)
    return setReady(
      at,
      'False',
      'MembraneNotConfigured',
      'the controller runs without the membrane keys (--membrane-keys): it cannot issue credentials',
    );

  const now = d.now?.() ?? Date.now();
  const nkey = g.spec?.grantee?.nkey;
  const expiresAt = g.spec.expires ? Date.parse(g.spec.expires) : undefined;
  if (expiresAt !== undefined && expiresAt <= now) {
    if (g.status?.userJwt) await revokeKey(d, m, nkey, at.key);
    return setReady(at, 'False', 'Expired', `the grant expired at ${g.spec.expires}; new calls are refused`, {
      userJwt: undefined,
      expires: g.spec.expires,
    });
  }
  const requeueAtExpiry = expiresAt !== undefined ? { requeueAfterMs: Math.max(50, expiresAt - now) } : undefined;

  const current = g.status?.userJwt ? safeClaims(g.status.userJwt) : undefined;
  const cutoff = m.authority.cutoffFor(nkey);
  const valid = current && current.sub === nkey && (cutoff === undefined || current.iat > cutoff);
  if (valid && g.status?.observedGeneration === g.metadata.generation) return requeueAtExpiry;
  if (valid) await revokeKey(d, m, nkey, at.key); // the spec changed: the old JWT must stop working
  await issue(at, m, expiresAt);
  return requeueAtExpiry;
}

/** Deleted: revoke what was issued (shown in status until the finalizer goes), then drop the finalizer. */
async function finalize({ d, g, key, path }: Grant): Promise<void> {
  const m = d.membrane;
  const nkey = g.spec?.grantee?.nkey;
  let resourceVersion = g.metadata.resourceVersion;
  if (m && g.status?.userJwt && nkey) {
    await revokeKey(d, m, nkey, key);
    // Visible until the finalizer goes (kubectl get -w): the key no longer works.
    const updated = await writeStatus(d, g, path, {
      ...g.status,
      userJwt: undefined,
      conditions: setCondition(g.status.conditions, {
        type: 'Ready',
        status: 'False',
        reason: 'Revoked' satisfies GrantReason,
        message: `revoked: the grant is being deleted; ${nkey} can no longer call`,
      }),
    });
    resourceVersion = updated?.metadata.resourceVersion ?? resourceVersion;
  }
  if (g.metadata.finalizers?.includes(GRANT_FINALIZER)) {
    await d.client.mergePatch(path, {
      metadata: { finalizers: g.metadata.finalizers.filter((f) => f !== GRANT_FINALIZER), resourceVersion },
    });
  }
}

/** Mints the grantee's JWT for this generation and records it: Ready True Issued. */
async function issue(at: Grant, m: MembraneConfig, expiresAt: number | undefined): Promise<void> {
  const { g, key } = at;
  const { name, namespace: ns } = g.metadata;
  const nkey = g.spec?.grantee?.nkey;
  const target = g.spec.provider ? { provider: g.spec.provider } : { capabilityId: g.spec.capabilityId!, linkName: g.spec.linkName };
  // nats-server refuses a JWT once the current second is past `exp` (and closes its
  // connections at `exp`): floor keeps that within a second after spec.expires; the
  // revocation at expiry (above) is what makes it immediate.
  const minted = m.authority.mintUser(`grant:${key}`, (k) => granteePermissions(k, ns!, target, g.spec.operations), {
    userKey: nkey,
    exp: expiresAt !== undefined ? Math.floor(expiresAt / 1000) : undefined,
  });
  const iat = decodeJwt(minted.jwt).iat;
  await setReady(
    at,
    'True',
    'Issued',
    `issued for ${nkey}${g.spec.expires ? ` until ${g.spec.expires}` : ''}; \`gantry grant creds ${name} -n ${ns} --nkey SEEDFILE -o FILE\` writes the .creds`,
    {
      userJwt: minted.jwt,
      issuedAt: new Date(iat * 1000).toISOString(),
      expires: g.spec.expires,
    },
  );
  at.d.log.info({ grant: key, grantee: nkey }, 'capability grant issued');
}

/** Writes the Ready condition (for this generation) with `extra` status fields. */
async function setReady(
  { d, g, path }: Grant,
  status: 'True' | 'False',
  reason: GrantReason,
  message: string,
  extra: Partial<GrantStatus> = {},
): Promise<void> {
  await writeStatus(d, g, path, {
    ...(g.status ?? {}),
    ...extra,
    observedGeneration: g.metadata.generation,
    conditions: setCondition(g.status?.conditions, { type: 'Ready', status, reason, message, observedGeneration: g.metadata.generation }),
  });
}

function safeClaims(jwt: string) {
  try {
    return decodeJwt(jwt);
  } catch {
    return undefined;
  }
}

/** Revoke every JWT of `nkey` issued until now, push, and re-issue the key's other grants. */
async function revokeKey(d: GrantDeps, m: MembraneConfig, nkey: string, except: string): Promise<void> {
  m.authority.revoke(nkey, sec(d.now?.() ?? Date.now()));
  await m.authority.pushAccount(m.servers);
  d.log.info({ grantee: nkey }, 'grantee key revoked');
  for (const other of d.grants.list()) {
    if (keyOf(other) !== except && other.spec?.grantee?.nkey === nkey) d.requeue(other);
  }
}

/** Write status when it changed; returns the updated object (undefined when nothing was written). */
async function writeStatus(d: GrantDeps, g: CapabilityGrant, path: string, status: GrantStatus): Promise<CapabilityGrant | undefined> {
  const clean = JSON.parse(JSON.stringify(status));
  if (jsonEqual(clean, g.status ?? {})) return undefined;
  // merge patch: null removes a field we dropped (userJwt after expiry)
  const patch: Record<string, unknown> = { ...clean };
  for (const k of Object.keys(g.status ?? {})) if (!(k in clean)) patch[k] = null;
  return d.client.mergePatch<CapabilityGrant>(`${path}/status`, { status: patch });
}
