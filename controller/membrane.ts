/**
 * The controller's side of the membrane (membrane/): it holds the account signing key and
 * mints every credential on the bus.
 *
 * CapabilityGrant reconciler — level-triggered like the Provider one: from the grant as it is
 * now and the authority's revocation list, make the world match.
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
 *
 * Instance credentials — each ProviderInstance gets a host user (membrane/permissions.ts
 * hostPermissions) in a Secret gantry-instance-<hash of ns/name> in the controller's
 * namespace, labelled with the instance's namespace, name and uid, which the node agent reads
 * and hands to the host. When the instance is gone its key is revoked and the Secret deleted
 * (on its delete event, and by a sweep on every resync).
 */
import {
  GRANT_FINALIZER,
  grantSpecProblems,
  group,
  instanceCredsLabels,
  instanceCredsSecretName,
  version,
  type CapabilityGrant,
  type ProviderInstance,
} from '../api/index.js';
import type { GrantReason } from '../api/reasons.js';
import type { MembraneAuthority } from '../membrane/authority.js';
import { decodeJwt } from '../membrane/jwt.js';
import { granteePermissions, hostPermissions } from '../membrane/permissions.js';
import { isNotFound, type KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { setCondition, jsonEqual } from '../runtime/toolkit/conditions.js';
import type { WorkResult } from '../runtime/toolkit/workqueue.js';

export interface MembraneConfig {
  authority: MembraneAuthority;
  /** The NATS servers account updates are pushed to. */
  servers: string | string[];
}

const INSTANCE_CREDS_LABEL = instanceCredsLabels.marker;
const USER_KEY_ANNOTATION = 'gantry.dev/user-key';
export { instanceCredsSecretName };

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
  requeue(key: string): void;
  log: Logger;
  now?: () => number;
}

const sec = (ms: number) => Math.floor(ms / 1000);

export async function reconcileGrant(d: GrantDeps, key: string): Promise<WorkResult | void> {
  const [ns, name] = key.split('/');
  const g = d.grants.get(name, ns);
  if (!g) return;
  const now = d.now?.() ?? Date.now();
  const path = `${grantsPath(ns)}/${encodeURIComponent(name)}`;
  const m = d.membrane;
  const nkey = g.spec?.grantee?.nkey;

  if (g.metadata.deletionTimestamp) {
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
    return;
  }
  if (!g.metadata.finalizers?.includes(GRANT_FINALIZER)) {
    await d.client.mergePatch(path, {
      metadata: { finalizers: [...(g.metadata.finalizers ?? []), GRANT_FINALIZER], resourceVersion: g.metadata.resourceVersion },
    });
    return; // the update event brings it back
  }

  const setReady = async (
    status: 'True' | 'False',
    reason: GrantReason,
    message: string,
    extra: Partial<NonNullable<CapabilityGrant['status']>> = {},
  ): Promise<void> => {
    await writeStatus(d, g, path, {
      ...(g.status ?? {}),
      ...extra,
      observedGeneration: g.metadata.generation,
      conditions: setCondition(g.status?.conditions, { type: 'Ready', status, reason, message, observedGeneration: g.metadata.generation }),
    });
  };

  const problems = grantSpecProblems(g.spec);
  if (problems.length) return setReady('False', 'InvalidSpec', problems.join('; '), { userJwt: undefined });
  if (!m)
    return setReady(
      'False',
      'MembraneNotConfigured',
      'the controller runs without the membrane keys (--membrane-keys): it cannot issue credentials',
    );

  const expiresAt = g.spec.expires ? Date.parse(g.spec.expires) : undefined;
  if (expiresAt !== undefined && expiresAt <= now) {
    if (g.status?.userJwt) await revokeKey(d, m, nkey, key);
    return setReady('False', 'Expired', `the grant expired at ${g.spec.expires}; new calls are refused`, {
      userJwt: undefined,
      expires: g.spec.expires,
    });
  }

  const current = g.status?.userJwt ? safeClaims(g.status.userJwt) : undefined;
  const cutoff = m.authority.revocations.get(nkey);
  const valid = current && current.sub === nkey && (cutoff === undefined || current.iat > cutoff);
  if (valid && g.status?.observedGeneration === g.metadata.generation) {
    return expiresAt !== undefined ? { requeueAfterMs: Math.max(50, expiresAt - now) } : undefined;
  }
  if (valid) await revokeKey(d, m, nkey, key); // the spec changed: the old JWT must stop working
  const target = g.spec.provider ? { provider: g.spec.provider } : { capabilityId: g.spec.capabilityId!, linkName: g.spec.linkName };
  // nats-server refuses a JWT once the current second is past `exp` (and closes its
  // connections at `exp`): floor keeps that within a second after spec.expires; the
  // revocation at expiry (above) is what makes it immediate.
  const minted = m.authority.mintUser(`grant:${key}`, (k) => granteePermissions(k, ns, target, g.spec.operations), {
    userKey: nkey,
    exp: expiresAt !== undefined ? Math.floor(expiresAt / 1000) : undefined,
  });
  const iat = decodeJwt(minted.jwt).iat;
  await setReady(
    'True',
    'Issued',
    `issued for ${nkey}${g.spec.expires ? ` until ${g.spec.expires}` : ''}; \`gantry grant creds ${name} -n ${ns} --nkey SEEDFILE -o FILE\` writes the .creds`,
    {
      userJwt: minted.jwt,
      issuedAt: new Date(iat * 1000).toISOString(),
      expires: g.spec.expires,
    },
  );
  d.log.info({ grant: key, grantee: nkey }, 'capability grant issued');
  return expiresAt !== undefined ? { requeueAfterMs: Math.max(50, expiresAt - now) } : undefined;
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
    const k = `${other.metadata.namespace}/${other.metadata.name}`;
    if (k !== except && other.spec?.grantee?.nkey === nkey) d.requeue(k);
  }
}

/** Write status when it changed; returns the updated object (undefined when nothing was written). */
async function writeStatus(
  d: GrantDeps,
  g: CapabilityGrant,
  path: string,
  status: NonNullable<CapabilityGrant['status']>,
): Promise<CapabilityGrant | undefined> {
  const clean = JSON.parse(JSON.stringify(status));
  if (jsonEqual(clean, g.status ?? {})) return undefined;
  // merge patch: null removes a field we dropped (userJwt after expiry)
  const patch: Record<string, unknown> = { ...clean };
  for (const k of Object.keys(g.status ?? {})) if (!(k in clean)) patch[k] = null;
  return d.client.mergePatch<CapabilityGrant>(`${path}/status`, { status: patch });
}

/** Instance host credentials: ensure the Secret exists for live instances, revoke and delete it for gone ones. */
export class InstanceCredentials {
  /** uid → Secret name, for instances whose Secret we know exists. */
  private readonly issued = new Map<string, string>();

  constructor(
    private readonly m: MembraneConfig,
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {}

  private secretsPath(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`;
  }

  async ensure(inst: ProviderInstance): Promise<void> {
    const uid = inst.metadata.uid ?? '';
    if (this.issued.has(uid) || inst.metadata.deletionTimestamp) return;
    const ns = inst.metadata.namespace ?? 'default';
    const name = instanceCredsSecretName(ns, inst.metadata.name);
    try {
      const s = await this.client.get(`${this.secretsPath()}/${name}`);
      if (s.metadata?.labels?.[instanceCredsLabels.uid] === uid) {
        this.issued.set(uid, name);
        return;
      }
      await this.remove(s); // left by an earlier instance of the same name
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const u = this.m.authority.mintUser(`host:${ns}/${inst.metadata.name}`, (k) =>
      hostPermissions(k, {
        namespace: ns,
        provider: inst.spec.provider,
        instance: inst.metadata.name,
        capid: inst.spec.capid,
        linkName: inst.spec.linkName,
      }),
    );
    await this.client.create(this.secretsPath(), {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name,
        namespace: this.namespace,
        labels: {
          [INSTANCE_CREDS_LABEL]: 'true',
          [instanceCredsLabels.namespace]: ns,
          [instanceCredsLabels.name]: inst.metadata.name,
          [instanceCredsLabels.uid]: uid,
        },
        annotations: { [USER_KEY_ANNOTATION]: u.userKey },
      },
      data: { 'nats.creds': Buffer.from(u.creds!).toString('base64') },
    });
    this.issued.set(uid, name);
    this.log.info({ instance: `${ns}/${inst.metadata.name}`, userKey: u.userKey }, 'instance host credentials issued');
  }

  /** Revoke and delete every Secret whose instance is no longer live. */
  async sweep(live: (ns: string, name: string, uid: string) => boolean): Promise<void> {
    const list = await this.client.list(this.secretsPath(), { labelSelector: `${INSTANCE_CREDS_LABEL}=true` });
    for (const s of list.items as Array<{
      metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    }>) {
      const l = s.metadata.labels ?? {};
      if (!live(l[instanceCredsLabels.namespace] ?? '', l[instanceCredsLabels.name] ?? '', l[instanceCredsLabels.uid] ?? ''))
        await this.remove(s);
    }
  }

  private async remove(s: {
    metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  }): Promise<void> {
    const key = s.metadata.annotations?.[USER_KEY_ANNOTATION];
    if (key) {
      this.m.authority.revoke(key);
      await this.m.authority.pushAccount(this.m.servers);
    }
    try {
      await this.client.delete(`${this.secretsPath()}/${s.metadata.name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const uid = s.metadata.labels?.[instanceCredsLabels.uid];
    if (uid) this.issued.delete(uid);
    this.log.info({ secret: s.metadata.name, userKey: key }, 'instance host credentials revoked');
  }
}
