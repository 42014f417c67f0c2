/**
 * Instance host credentials — each ProviderInstance gets a host user (membrane/permissions.ts
 * hostPermissions) in a Secret gantry-instance-<hash of ns/name> in the controller's
 * namespace, labelled with the instance's namespace, name and uid, which the node agent reads
 * and hands to the host. When the instance is gone its key is revoked and the Secret deleted
 * (on its delete event, and by a sweep on every resync: reconcilers.ts).
 */
import { instanceCredsLabels, instanceCredsSecretName, type ProviderInstance } from '../../api/index.js';
import { hostPermissions } from '../../membrane/permissions.js';
import { isNotFound, type KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import type { MembraneConfig } from '../membrane.js';

const INSTANCE_CREDS_LABEL = instanceCredsLabels.marker;
const USER_KEY_ANNOTATION = 'gantry.dev/user-key';
export { instanceCredsSecretName };

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
    const u = this.m.authority.mintUser(`host:${keyOf({ namespace: ns, name: inst.metadata.name })}`, (k) =>
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
    this.log.info({ instance: keyOf({ namespace: ns, name: inst.metadata.name }), userKey: u.userKey }, 'instance host credentials issued');
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
