/**
 * Per-instance secret config: the values of an instance's config that come from Secrets
 * (`spec.secretConfig.keys`; the Provider reconcile reads them from the Provider's
 * `configFrom` Secrets) never enter the ProviderInstance. For each such instance the
 * controller writes a Secret gantry-config-<hash of ns/name> into the credentials namespace
 * (gantry-nodes, beside the pull credentials: the only namespace whose Secrets agents may
 * `get`), type gantry.dev/sealed-config, labelled with the instance's namespace, name and uid,
 * whose `data.sealed` is the JSON object {key: value} **sealed to the seal key of the
 * instance's node** (registry/sealed-credential.ts; the key from the node agent's Lease) — so
 * every other node's agent, which can read the Secret by name, gets ciphertext it cannot open.
 * Its agent opens it and hands the values to the host with the rest of the config
 * (agent/secret-config.ts).
 *
 * The clear text is stored nowhere else: the Secret carries only the envelope and a digest
 * keyed with a per-process key (so an unchanged value is not rewritten, and the digest says
 * nothing to a reader). Values, and anything derived from them, are never logged or evented.
 * Until the node has published a key the Secret says so (annotation gantry.dev/config-pending;
 * the agent reports it) and the writer tries again every few seconds on its own, as the
 * interface it implements resolves with nothing to requeue by. Deleting the instance deletes
 * the Secret (`sweep`, on every instance delete and resync: an owner reference cannot cross
 * namespaces).
 */
import { randomBytes } from 'node:crypto';
import { instanceConfigSecretName, instanceCredsLabels, type ProviderInstance } from '../../api/index.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import type { SecretConfigWriter } from '../providers/secret-config.js';
import { instanceSecretLabels, type SealTarget, SealedSecrets, type SecretObj, sealForNode, sealedData } from './sealed-secret.js';

/** The node's seal key is not there yet: why the Secret holds no values (the agent reports it). */
export const CONFIG_PENDING_ANNOTATION = 'gantry.dev/config-pending';
/** `<node> <key>` the values are sealed to, and a keyed digest of what was sealed. */
export const CONFIG_SEALED_FOR_ANNOTATION = 'gantry.dev/config-sealed-for';
export const CONFIG_SEALED_DIGEST_ANNOTATION = 'gantry.dev/config-sealed-digest';
export const SEALED_CONFIG_SECRET_TYPE = 'gantry.dev/sealed-config';
/** What the seal's messages call it. */
export const SEALED_CONFIG_WHAT = 'secret config';

/** The values as one JSON object, keys sorted: the same values always seal (and digest) the same clear text. */
export function secretConfigJson(values: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(values)
        .sort()
        .map((k) => [k, values[k]]),
    ),
  );
}

/** The Secret for `inst` holding `values` sealed to its node's key, or saying it waits for that key. */
export function instanceConfigSecret(
  credentialsNamespace: string,
  inst: ProviderInstance,
  values: Readonly<Record<string, string>>,
  seal: SealTarget,
): SecretObj {
  const metadata = {
    name: instanceConfigSecretName(inst.metadata.namespace ?? 'default', inst.metadata.name),
    namespace: credentialsNamespace,
    labels: instanceSecretLabels(instanceCredsLabels.configMarker, inst),
  };
  const base = { apiVersion: 'v1', kind: 'Secret', type: SEALED_CONFIG_SECRET_TYPE };
  const sealed = sealForNode(seal, secretConfigJson(values), SEALED_CONFIG_WHAT);
  if (sealed.pending !== undefined)
    return { ...base, metadata: { ...metadata, annotations: { [CONFIG_PENDING_ANNOTATION]: sealed.pending } } };
  return {
    ...base,
    metadata: {
      ...metadata,
      annotations: { [CONFIG_SEALED_FOR_ANNOTATION]: `${seal.node} ${seal.key}`, [CONFIG_SEALED_DIGEST_ANNOTATION]: sealed.digest },
    },
    data: sealedData(sealed.envelope),
  };
}

// what a Secret holds, for "no write needed": the envelope differs on every seal, so the digest stands for it
const sig = (s: SecretObj) =>
  JSON.stringify([
    s.type,
    s.metadata.labels?.[instanceCredsLabels.uid],
    ...[CONFIG_PENDING_ANNOTATION, CONFIG_SEALED_FOR_ANNOTATION, CONFIG_SEALED_DIGEST_ANNOTATION].map(
      (a) => s.metadata.annotations?.[a] ?? '',
    ),
  ]);

const SEAL_KEY_RECHECK_MS = 5_000;

export class InstanceSecretConfig implements SecretConfigWriter {
  /** uid → signature of what we know the Secret holds */
  private readonly written = new Map<string, string>();
  /** uid → what waits for its node's seal key (tried again every recheckMs) */
  private readonly waiting = new Map<string, { inst: ProviderInstance; values: Readonly<Record<string, string>> }>();
  private recheck?: NodeJS.Timeout;
  private readonly secrets: SealedSecrets;
  /** Per process: a restarted controller re-seals every value once, and the digests say nothing to anyone else. */
  private readonly digestKey = randomBytes(32);

  constructor(
    client: KubeClient,
    private readonly namespace: string,
    private readonly log: Logger,
    /** The seal key (X…) a node's agent published on its Lease, if any. */
    private readonly sealKeyOf: (node: string) => string | undefined,
    private readonly recheckMs = SEAL_KEY_RECHECK_MS,
  ) {
    this.secrets = new SealedSecrets(client, namespace, instanceCredsLabels.configMarker);
  }

  /** Make the instance's Secret hold `values` sealed to its node (or say it waits for the node's key); no API call when it already does. */
  async ensure(inst: ProviderInstance, values: Readonly<Record<string, string>>): Promise<void> {
    const uid = inst.metadata.uid;
    if (!uid || inst.metadata.deletionTimestamp) return;
    const node = inst.spec.nodeName;
    const want = instanceConfigSecret(this.namespace, inst, values, { node, key: this.sealKeyOf(node), digestKey: this.digestKey });
    const waiting = want.metadata.annotations?.[CONFIG_PENDING_ANNOTATION] !== undefined;
    if (waiting) this.wait(uid, inst, values);
    else this.waiting.delete(uid);
    const s = sig(want);
    if (this.written.get(uid) === s) return;
    const had = await this.secrets.write(want, uid, sig);
    this.written.set(uid, s);
    this.log.info(
      { instance: keyOf(inst), secret: want.metadata.name, keys: Object.keys(values).length, waiting: waiting || undefined },
      had ? 'instance secret config resealed' : 'instance secret config written',
    );
  }

  /** Delete every config Secret whose instance is no longer live. */
  async sweep(live: (ns: string, name: string, uid: string) => boolean): Promise<void> {
    await this.secrets.sweep(live, (uid, name) => {
      this.written.delete(uid);
      this.waiting.delete(uid);
      this.log.info({ secret: name }, 'instance secret config deleted');
    });
    for (const [uid, { inst }] of this.waiting)
      if (!live(inst.metadata.namespace ?? 'default', inst.metadata.name, uid)) this.waiting.delete(uid);
  }

  /** Stops trying again for instances whose node has no key yet. */
  stop(): void {
    clearInterval(this.recheck);
    this.recheck = undefined;
    this.waiting.clear();
  }

  // the node's key arrives with its agent's Lease: look again until it is there
  private wait(uid: string, inst: ProviderInstance, values: Readonly<Record<string, string>>): void {
    this.waiting.set(uid, { inst, values });
    if (this.recheck) return;
    this.recheck = setInterval(() => {
      if (!this.waiting.size) {
        clearInterval(this.recheck);
        this.recheck = undefined;
        return;
      }
      for (const [, w] of this.waiting)
        this.ensure(w.inst, w.values).catch((err) =>
          this.log.warn({ instance: keyOf(w.inst), err: (err as Error).message }, 'cannot write the instance secret config; will retry'),
        );
    }, this.recheckMs);
    this.recheck.unref();
  }
}
