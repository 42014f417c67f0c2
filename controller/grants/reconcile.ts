/**
 * The CapabilityGrant reconciler — level-triggered like the Provider one: from the grant as it
 * is now and the authority's revocation list, make the world match.
 *   - deleted (finalizer gantry.dev/revoke): revoke the grantee key, push the account, drop
 *     the finalizer;
 *   - invalid spec → Ready False InvalidSpec; no membrane configured → MembraneNotConfigured;
 *   - a key someone else holds (a provider host's, or another namespace's grant's: key-claims.ts)
 *     → Ready False KeyInUse, nothing issued — so nothing this grant does revokes that key;
 *   - past spec.expires: revoke and push (nats-server also refuses the JWT's own `exp`) →
 *     Ready False Expired;
 *   - otherwise make sure status.userJwt is a JWT for this generation issued after the key's
 *     revocation cut-off (mint, Ready True Issued), re-minted while less than a third of its
 *     lifetime remains (jwt-lifetime.ts), and requeue at the renewal or expiry. A changed spec
 *     (or a JWT without `exp`, from before lifetimes) revokes the old JWT first (revocation is
 *     per key, by issue time).
 * Revoking a key revokes every JWT of that key issued before: the key's other grants (all in
 * this namespace) are re-issued (their status.userJwt changes; the grantee fetches fresh
 * creds). One key per grant avoids that.
 */
import { GRANT_FINALIZER, grantSpecProblems, group, version, type CapabilityGrant, type ProviderInstance } from '../../api/index.js';
import type { GrantReason } from '../../api/reasons.js';
import { decodeJwt } from '../../client/jwt.js';
import { granteePermissions } from '../../membrane/permissions.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { jsonEqual, setCondition } from '../../runtime/toolkit/conditions.js';
import { keyOf, type ObjectKey } from '../../runtime/toolkit/keys.js';
import type { WorkResult } from '../../runtime/toolkit/workqueue.js';
import type { MembraneConfig } from '../membrane.js';
import { DEFAULT_GRANT_JWT_LIFETIME_MS, grantJwtExp, renewalDueAt } from './jwt-lifetime.js';
import { keyConflict, type KeyClaim } from './key-claims.js';

export function grantsPath(ns?: string): string {
  return ns
    ? `/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}/capabilitygrants`
    : `/apis/${group}/${version}/capabilitygrants`;
}

export interface GrantDeps {
  membrane?: MembraneConfig;
  client: KubeClient;
  grants: { get(name: string, ns?: string): CapabilityGrant | undefined; list(): CapabilityGrant[] };
  /** Whose status.hostKey no grant may name. */
  instances: { list(): ProviderInstance[] };
  /** Enqueue another grant (its key's JWTs were revoked). */
  requeue(grant: CapabilityGrant): void;
  log: Logger;
  now?: () => number;
  /** The longest a grant JWT lives (exp − iat); default 24 h. */
  jwtLifetimeMs?: number;
}

/** What the claim order (key-claims.ts) needs of a grant. */
export function claimOf(g: CapabilityGrant): KeyClaim {
  return {
    namespace: g.metadata.namespace ?? '',
    name: g.metadata.name ?? '',
    nkey: g.spec?.grantee?.nkey,
    createdAt: g.metadata.creationTimestamp,
    issued: !!g.status?.userJwt,
  };
}

/** Whether `g` may use its key now (undefined) or who else holds it. */
function conflictOf(d: GrantDeps, g: CapabilityGrant) {
  const hostKeys = new Set<string>();
  for (const i of d.instances.list()) if (i.status?.hostKey) hostKeys.add(i.status.hostKey);
  return keyConflict(claimOf(g), d.grants.list().map(claimOf), hostKeys);
}

const KEY_IN_USE =
  'spec.grantee.nkey is held outside this namespace (by a provider host or by a grant elsewhere): nothing is issued for it ' +
  'and deleting this grant revokes nothing; generate a key of your own (`gantry keys generate --type user`) and name it in a new grant';

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

  // Before anything that could revoke: a key someone else holds is never touched.
  if (conflictOf(d, g)) return setReady(at, 'False', 'KeyInUse', KEY_IN_USE, { userJwt: undefined, issuedAt: undefined });

  const now = d.now?.() ?? Date.now();
  const lifetimeMs = d.jwtLifetimeMs ?? DEFAULT_GRANT_JWT_LIFETIME_MS;
  const nkey = g.spec?.grantee?.nkey;
  const expiresAt = g.spec.expires ? Date.parse(g.spec.expires) : undefined;
  if (expiresAt !== undefined && expiresAt <= now) {
    if (g.status?.userJwt) await revokeKey(d, m, nkey, at.key);
    return setReady(at, 'False', 'Expired', `the grant expired at ${g.spec.expires}; new calls are refused`, {
      userJwt: undefined,
      expires: g.spec.expires,
    });
  }
  // Come back at the renewal or the grant's expiry, whichever is first.
  const requeue = (expSec: number | undefined) => {
    const due = [renewalDueAt(expSec, lifetimeMs, expiresAt), expiresAt].filter((t): t is number => t !== undefined);
    return due.length ? { requeueAfterMs: Math.max(50, Math.min(...due) - now) } : undefined;
  };

  const current = g.status?.userJwt ? safeClaims(g.status.userJwt) : undefined;
  const cutoff = m.authority.cutoffFor(nkey);
  const valid = current && current.sub === nkey && (cutoff === undefined || current.iat > cutoff);
  const sameGeneration = g.status?.observedGeneration === g.metadata.generation;
  if (valid && sameGeneration && current.exp !== undefined) {
    const renewAt = renewalDueAt(current.exp, lifetimeMs, expiresAt);
    if (renewAt === undefined || renewAt > now) return requeue(current.exp);
    // renewal: the same key, a new JWT; the old one ends at its own exp
  } else if (valid) await revokeKey(d, m, nkey, at.key); // the spec changed, or a JWT without exp: the old one must stop working
  return requeue(await issue(at, m, lifetimeMs, expiresAt));
}

/** Deleted: revoke what was issued (shown in status until the finalizer goes), then drop the finalizer. */
async function finalize({ d, g, key, path }: Grant): Promise<void> {
  const m = d.membrane;
  const nkey = g.spec?.grantee?.nkey;
  let resourceVersion = g.metadata.resourceVersion;
  // Only what this grant issued, and only while it holds the key (never a host's or another namespace's).
  if (m && g.status?.userJwt && nkey && !conflictOf(d, g)) {
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

/** Mints the grantee's JWT for this generation and records it: Ready True Issued. Returns its exp (s). */
async function issue(at: Grant, m: MembraneConfig, lifetimeMs: number, expiresAt: number | undefined): Promise<number> {
  const { g, key } = at;
  const { name, namespace: ns } = g.metadata;
  const nkey = g.spec?.grantee?.nkey;
  const target = g.spec.provider ? { provider: g.spec.provider } : { capabilityId: g.spec.capabilityId!, linkName: g.spec.linkName };
  // A key revoked before needs a JWT issued after its cut-off, or it is born revoked.
  const cutoff = m.authority.cutoffFor(nkey);
  const iat = Math.max(sec(at.d.now?.() ?? Date.now()), cutoff !== undefined ? cutoff + 1 : 0);
  // nats-server refuses a JWT once the current second is past `exp` (and closes its
  // connections at `exp`): floor keeps that within a second after spec.expires; the
  // revocation at expiry (above) is what makes it immediate.
  const exp = grantJwtExp(iat, lifetimeMs, expiresAt);
  const minted = m.authority.mintUser(`grant:${key}`, (k) => granteePermissions(k, ns!, target, g.spec.operations), {
    userKey: nkey,
    iat,
    exp,
  });
  const claims = decodeJwt(minted.jwt);
  await setReady(
    at,
    'True',
    'Issued',
    `issued for ${nkey}${g.spec.expires ? ` until ${g.spec.expires}` : ''}; these credentials end at ${iso(claims.exp ?? exp)} ` +
      `and are renewed before: \`gantry grant creds ${name} -n ${ns} --nkey SEEDFILE -o FILE\` writes the current .creds`,
    {
      userJwt: minted.jwt,
      issuedAt: iso(claims.iat),
      expires: g.spec.expires,
    },
  );
  at.d.log.info({ grant: key, grantee: nkey, exp: claims.exp }, 'capability grant issued');
  return claims.exp ?? exp;
}

const iso = (s: number) => new Date(s * 1000).toISOString();

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
