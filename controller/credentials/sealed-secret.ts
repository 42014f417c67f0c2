/**
 * What the per-instance Secrets of the credentials namespace share (pull.ts: the pull
 * credential; config.ts: the secret config values): each is labelled with its instance's
 * namespace, name and uid and a marker of its kind, holds one envelope sealed to the seal key
 * of the instance's node (registry/sealed-credential.ts) or says why it waits for that key, and
 * carries a keyed digest of what was sealed — the envelope differs on every seal, so the
 * digest is what tells an unchanged value, and an unchanged one is not rewritten. The clear
 * text is never stored. An owner reference cannot cross namespaces, so each is deleted by a
 * sweep of its marker when its instance is gone.
 */
import { createHmac } from 'node:crypto';
import { instanceCredsLabels, type ProviderInstance } from '../../api/index.js';
import { SealError, sealTo } from '../../registry/sealed-credential.js';
import { isNotFound, type KubeClient } from '../../runtime/kube.js';

/** The envelope's key in the Secret's data. */
export const SEALED_DATA_KEY = 'sealed';

export interface SecretObj {
  apiVersion?: string;
  kind?: string;
  type?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

/** How the Secret is sealed: to the key `node` published (none yet: the Secret says it waits), with a change digest under `digestKey`. */
export interface SealTarget {
  node: string;
  key: string | undefined;
  /** HMAC key for the digest that tells an unchanged value (the ciphertext differs on every seal). */
  digestKey: Buffer;
}

/** The labels that tie a Secret to its instance (uid: an earlier instance of the same name is another). */
export function instanceSecretLabels(marker: string, inst: ProviderInstance): Record<string, string> {
  return {
    [marker]: 'true',
    [instanceCredsLabels.namespace]: inst.metadata.namespace ?? 'default',
    [instanceCredsLabels.name]: inst.metadata.name,
    [instanceCredsLabels.uid]: inst.metadata.uid ?? '',
  };
}

/** `clear` sealed to the target's key with its keyed digest, or — no usable key yet — why it waits (`CODE: message`). */
export function sealForNode(
  seal: SealTarget,
  clear: string,
  what: string,
): { envelope: string; digest: string; pending?: undefined } | { pending: string } {
  let envelope: string;
  try {
    envelope = sealTo(seal.node, seal.key, clear, what);
  } catch (err) {
    if (!(err instanceof SealError)) throw err;
    return { pending: `${err.code}: ${err.message}` };
  }
  const digest = createHmac('sha256', seal.digestKey).update(`${seal.key}\n${clear}`).digest('hex');
  return { envelope, digest };
}

/** The Secret data holding an envelope. */
export const sealedData = (envelope: string): Record<string, string> => ({ [SEALED_DATA_KEY]: Buffer.from(envelope).toString('base64') });

/** One kind of per-instance sealed Secret (its marker label) in the credentials namespace. */
export class SealedSecrets {
  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
    private readonly marker: string,
  ) {}

  path(name?: string, namespace = this.namespace): string {
    return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets${name ? `/${name}` : ''}`;
  }

  /**
   * Make the Secret `want` (for instance `uid`) hold what `sig` says of it: created, replaced
   * when its signature differs, left alone when equal. One left by an earlier instance of the
   * same name, or of another type (a Secret's type cannot change), is deleted first. Resolves
   * with whether a Secret was there before.
   */
  async write(want: SecretObj, uid: string, sig: (s: SecretObj) => string): Promise<boolean> {
    let have: SecretObj | undefined;
    try {
      have = await this.client.get<SecretObj>(this.path(want.metadata.name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (have && (have.metadata.labels?.[instanceCredsLabels.uid] !== uid || have.type !== want.type)) {
      await this.deleteQuietly(have.metadata.name);
      have = undefined;
    }
    if (!have) await this.client.create(this.path(), want);
    else if (sig(have) !== sig(want))
      await this.client.replace(this.path(want.metadata.name), {
        ...want,
        metadata: { ...want.metadata, resourceVersion: have.metadata.resourceVersion },
      });
    return !!have;
  }

  /** Delete every Secret of this kind whose instance is no longer live; `deleted` hears of each (its uid and name). */
  async sweep(
    live: (ns: string, name: string, uid: string) => boolean,
    deleted: (uid: string, name: string) => void,
    namespace = this.namespace,
  ): Promise<void> {
    const list = await this.client.list(this.path(undefined, namespace), { labelSelector: `${this.marker}=true` });
    for (const s of list.items as SecretObj[]) {
      const l = s.metadata.labels ?? {};
      if (live(l[instanceCredsLabels.namespace] ?? '', l[instanceCredsLabels.name] ?? '', l[instanceCredsLabels.uid] ?? '')) continue;
      await this.deleteQuietly(s.metadata.name, namespace);
      deleted(l[instanceCredsLabels.uid] ?? '', s.metadata.name);
    }
  }

  async deleteQuietly(name: string, namespace = this.namespace): Promise<void> {
    try {
      await this.client.delete(this.path(name, namespace));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
