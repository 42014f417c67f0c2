/**
 * Instance host identities, signed the way a kubelet's certificate is: the node agent makes
 * the host's key pair on its node and writes only the public key (status.hostKey); the
 * controller mints a short-lived user JWT for that key (membrane/permissions.ts
 * hostPermissions, exp = now + the host JWT lifetime) into status.hostJwt, and mints again
 * once a third of the lifetime remains. The seed never leaves the node, and no Secret holds a
 * host's credentials: a fallen node has nothing of another node's hosts to read.
 *
 * It refuses (condition HostCredentials=False, reason HostKeyRefused; no JWT) a key that a
 * CapabilityGrant names or that another live instance holds (host-key-policy.ts). A key the
 * controller signed is revoked when its instance writes another key, and when the instance
 * goes (the sweep). The sweep also removes what the previous design left: Secrets
 * gantry-instance-<hash> holding controller-made host credentials, whose keys it revokes.
 */
import { group, instanceCredsLabels, type ProviderInstance, version } from '../../api/index.js';
import { decodeJwt, type NatsClaims } from '../../client/jwt.js';
import { hostPermissions } from '../../membrane/permissions.js';
import { isConflict, isNotFound, type KubeClient, resourcePath } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { type Condition, setCondition } from '../../runtime/toolkit/conditions.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import type { MembraneConfig } from '../membrane.js';
import { hostKeyRefusal, renewAtMs } from './host-key-policy.js';

/** The previous design's Secrets (controller-made host creds): only deleted now, their keys revoked. */
const LEGACY_MARKER = instanceCredsLabels.marker;
const LEGACY_USER_KEY_ANNOTATION = 'gantry.dev/user-key';
/** The condition the controller keeps on an instance about its host key. */
export const HOST_CREDENTIALS = 'HostCredentials';
export const DEFAULT_HOST_JWT_LIFETIME_MS = 60 * 60_000;

export interface HostIdentityOptions {
  /** How long a host JWT is valid (default 1 h); it is renewed when a third remains. */
  lifetimeMs?: number;
  /** CapabilityGrants as the informer holds them (any namespace): their keys are never signed as host keys. */
  grants: () => Array<{ metadata: { namespace?: string; name: string }; spec?: { grantee?: { nkey?: string } } }>;
  /** Every instance as the informer holds them: who already holds a key (rebuilt after a restart). */
  instances: () => ProviderInstance[];
}

type Live = (ns: string, name: string, uid: string) => boolean;

export class InstanceCredentials {
  /** host key → uid of the instance it was signed for */
  private readonly owners = new Map<string, string>();
  /** uid → the key signed for it, and where the instance is (to tell whether it is still live) */
  private readonly signed = new Map<string, { key: string; namespace: string; name: string }>();
  private seeded = false;
  readonly lifetimeMs: number;

  constructor(
    private readonly m: MembraneConfig,
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly log: Logger,
    private readonly o: HostIdentityOptions,
  ) {
    this.lifetimeMs = o.lifetimeMs ?? DEFAULT_HOST_JWT_LIFETIME_MS;
  }

  /** Sign (or renew) the instance's host key; returns when to look again (ms), if ever. */
  async ensure(inst: ProviderInstance): Promise<number | undefined> {
    this.seed();
    const uid = inst.metadata.uid ?? '';
    const key = inst.status?.hostKey;
    if (!key || inst.metadata.deletionTimestamp) return undefined;
    const ns = inst.metadata.namespace ?? 'default';
    const was = this.signed.get(uid);
    if (was && was.key !== key) await this.forget(uid, 'the instance wrote a new host key');
    const refusal = hostKeyRefusal(key, uid, { owners: this.owners, live: (u) => this.liveUid(u), grantKeys: this.grantKeys() });
    if (refusal) {
      this.log.warn({ instance: keyOf({ namespace: ns, name: inst.metadata.name }), hostKey: key }, refusal);
      await this.writeCondition(inst, { status: 'False', reason: 'HostKeyRefused', message: refusal }, null);
      return undefined;
    }
    this.owners.set(key, uid);
    this.signed.set(uid, { key, namespace: ns, name: inst.metadata.name });
    const renewAt = renewAtMs(claimsOf(inst.status?.hostJwt), this.want(key));
    const now = Date.now();
    if (renewAt > now && hostCredentialsStatus(inst) !== 'False') return renewAt - now;
    const exp = Math.floor((now + this.lifetimeMs) / 1000);
    const u = this.m.authority.mintUser(
      `host:${keyOf({ namespace: ns, name: inst.metadata.name })}`,
      (k) =>
        hostPermissions(k, {
          namespace: ns,
          provider: inst.spec.provider,
          instance: inst.metadata.name,
          capid: inst.spec.capid,
          linkName: inst.spec.linkName,
        }),
      { userKey: key, exp },
    );
    await this.writeCondition(inst, { status: 'True', reason: 'Issued', message: `host JWT for ${key} valid until exp ${exp}` }, u.jwt);
    this.log.info({ instance: keyOf({ namespace: ns, name: inst.metadata.name }), hostKey: key, exp }, 'instance host JWT issued');
    return renewAtMs(decodeJwt(u.jwt), this.want(key)) - Date.now();
  }

  /** Revoke the keys of instances no longer live, and remove the previous design's Secrets. */
  async sweep(live: Live): Promise<void> {
    this.seed();
    let revoked = 0;
    for (const [uid, s] of [...this.signed]) {
      if (live(s.namespace, s.name, uid)) continue;
      this.revokeSigned(uid, 'the instance is gone');
      revoked++;
    }
    revoked += await this.removeLegacySecrets();
    if (revoked) await this.m.authority.pushAccount(this.m.servers);
  }

  private want(key: string) {
    return { key, issuer: this.m.authority.accountKey, lifetimeMs: this.lifetimeMs, cutoff: this.m.authority.cutoffFor(key) };
  }

  private liveUid(uid: string): boolean {
    return this.o.instances().some((i) => i.metadata.uid === uid && !i.metadata.deletionTimestamp);
  }

  private grantKeys(): Map<string, string> {
    const out = new Map<string, string>();
    for (const g of this.o.grants())
      if (g.spec?.grantee?.nkey)
        out.set(g.spec.grantee.nkey, keyOf({ namespace: g.metadata.namespace ?? 'default', name: g.metadata.name }));
    return out;
  }

  /**
   * After a restart: which instance holds which key is what the instances' status says — a
   * hostJwt for their hostKey signed by this account; the oldest instance wins a tie.
   */
  private seed(): void {
    if (this.seeded) return;
    this.seeded = true;
    const byAge = [...this.o.instances()].sort((a, b) =>
      String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')),
    );
    for (const i of byAge) {
      const key = i.status?.hostKey;
      const c = claimsOf(i.status?.hostJwt);
      if (!key || i.metadata.deletionTimestamp || c?.sub !== key || c.iss !== this.m.authority.accountKey) continue;
      if (this.owners.has(key)) continue;
      this.owners.set(key, i.metadata.uid ?? '');
      this.signed.set(i.metadata.uid ?? '', { key, namespace: i.metadata.namespace ?? 'default', name: i.metadata.name });
    }
  }

  private async forget(uid: string, why: string): Promise<void> {
    this.revokeSigned(uid, why);
    await this.m.authority.pushAccount(this.m.servers);
  }

  private revokeSigned(uid: string, why: string): void {
    const s = this.signed.get(uid);
    if (!s) return;
    this.signed.delete(uid);
    if (this.owners.get(s.key) === uid) this.owners.delete(s.key);
    this.m.authority.revoke(s.key);
    this.log.info({ instance: keyOf(s), hostKey: s.key, why }, 'instance host key revoked');
  }

  /**
   * The HostCredentials condition and hostJwt (null removes it) in one merge patch, on the
   * resourceVersion read: the agent writes the same conditions list, so a lost race is a 409
   * that retries on fresh data rather than a write that drops the agent's Ready condition.
   */
  private async writeCondition(
    inst: ProviderInstance,
    c: { status: 'True' | 'False'; reason: string; message: string },
    hostJwt: string | null,
    retried = false,
  ): Promise<void> {
    const have = (inst.status?.conditions ?? []) as Condition[];
    const conditions = setCondition(have, { type: HOST_CREDENTIALS, ...c });
    const same = have.find((x) => x.type === HOST_CREDENTIALS);
    if (same?.status === c.status && same.reason === c.reason && (inst.status?.hostJwt ?? null) === hostJwt) return;
    const path = resourcePath({
      group,
      version,
      plural: 'providerinstances',
      namespace: inst.metadata.namespace ?? 'default',
      name: inst.metadata.name,
      subresource: 'status',
    });
    try {
      await this.client.mergePatch(path, {
        metadata: { uid: inst.metadata.uid, resourceVersion: inst.metadata.resourceVersion },
        status: { conditions, hostJwt },
      });
    } catch (err) {
      // The agent wrote status in between (it does at every phase): write again on what it
      // wrote, at once, rather than after the queue's backoff — a start waits on this JWT.
      // Once only, and only while the instance still shows the key this JWT is for.
      if (!isConflict(err) || retried) throw err;
      const fresh = await this.client.get<ProviderInstance>(path.slice(0, -'/status'.length));
      if (fresh.metadata.uid !== inst.metadata.uid || fresh.status?.hostKey !== inst.status?.hostKey) throw err;
      await this.writeCondition(fresh, c, hostJwt, true);
    }
  }

  /** Migration: the Secrets the controller used to write hold controller-made seeds; revoke their keys, delete them. */
  private async removeLegacySecrets(): Promise<number> {
    const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`;
    const list = await this.client.list(path, { labelSelector: `${LEGACY_MARKER}=true` });
    let revoked = 0;
    for (const s of list.items as Array<{ metadata: { name: string; annotations?: Record<string, string> } }>) {
      const key = s.metadata.annotations?.[LEGACY_USER_KEY_ANNOTATION];
      if (key) {
        this.m.authority.revoke(key);
        revoked++;
      }
      try {
        await this.client.delete(`${path}/${s.metadata.name}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.log.info({ secret: s.metadata.name, userKey: key }, 'removed a host credential Secret of the previous design');
    }
    return revoked;
  }
}

function claimsOf(jwt: string | undefined): NatsClaims | undefined {
  if (!jwt) return undefined;
  try {
    return decodeJwt(jwt);
  } catch {
    return undefined;
  }
}

function hostCredentialsStatus(inst: ProviderInstance): string | undefined {
  return (inst.status?.conditions as Condition[] | undefined)?.find((c) => c.type === HOST_CREDENTIALS)?.status;
}
