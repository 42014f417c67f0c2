/**
 * Per-instance pull credentials: the node agent reads no Secret outside the Gantry namespace.
 * The controller, which already reads a Provider's pull secrets (pull-secret-cache.ts), writes
 * for each instance whose spec names pull secrets a Secret gantry-pull-<hash of ns/name> in the
 * credentials namespace (gantry-nodes: the only namespace whose Secrets agents may read, so it
 * holds nothing but these envelopes), holding only the entry for the instance's registry host (registry/pull-secrets.ts
 * narrowDockerConfig), **sealed to the seal key of the instance's node** (its agent publishes
 * it on its Lease; registry/sealed-credential.ts) — so every other node's agent, which can
 * read the Secret by name, gets ciphertext it cannot open. Until that node has published a key
 * the Secret says so (annotation gantry.dev/pull-credential-pending) and is looked at again
 * every few seconds. It is labelled with the instance's namespace, name and uid. When the Provider's secrets cannot be read the Secret
 * carries the refusal instead (annotation gantry.dev/pull-secret-error = CODE: message), so the
 * agent reports the same reason it would have found itself.
 *
 * Where the registry has a token service (distribution's `auth: token`) and the controller is
 * given a minter (`registryPullTokenMinter`), the Secret holds instead a short-lived token for
 * the instance's repository only (`repository:<name>:pull`, as docker's `registrytoken`),
 * minted with the Provider's credential and minted again at half its life; the credential
 * itself then never reaches the node. A registry without one (basic auth), or a failed mint,
 * gets the narrowed credential.
 *
 * Rotation: the pull-secret cache enqueues the Provider when one of its secrets changes; its
 * reconcile calls `ensure` for each instance, which rewrites the Secret when its content
 * changed. The agent reads the Secret on every pull, so a running instance's next pull uses
 * the new credential without a restart. Deleting the instance deletes the Secret (`sweep`, on
 * every instance delete and resync: an owner reference cannot cross namespaces). The sweep also
 * deletes every pull credential an older controller left in the Gantry namespace (gantry-system),
 * where agents no longer read Secrets.
 */
import { instanceCredsLabels, instancePullCredsSecretName, type ProviderInstance } from '../../api/index.js';
import { createHash, randomBytes } from 'node:crypto';
import { credentialsFor, narrowDockerConfig, type PullSecretError, type PullSecret } from '../../registry/pull-secrets.js';
import { DistributionClient } from '../../registry/distribution/client.js';
import type { RegistryCredentials } from '../../registry/distribution/auth.js';
import { parseArchiveRef } from '../../registry/reference.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import { instanceSecretLabels, type SealTarget, SealedSecrets, type SecretObj, sealForNode, sealedData } from './sealed-secret.js';

export { SEALED_DATA_KEY, type SealTarget } from './sealed-secret.js';

export const PULL_SECRET_ERROR_ANNOTATION = 'gantry.dev/pull-secret-error';
export const PULL_TOKEN_EXPIRES_ANNOTATION = 'gantry.dev/pull-token-expires';
/** The node's seal key is not there yet: why the Secret holds no credential (the agent reports it). */
export const PULL_PENDING_ANNOTATION = 'gantry.dev/pull-credential-pending';
/** `<node> <key>` the credential is sealed to, and a keyed digest of what was sealed. */
export const PULL_SEALED_FOR_ANNOTATION = 'gantry.dev/pull-sealed-for';
export const PULL_SEALED_DIGEST_ANNOTATION = 'gantry.dev/pull-sealed-digest';
/** The type says it is no docker config. */
export const SEALED_SECRET_TYPE = 'gantry.dev/sealed-pull-credential';

/** Exchanges credentials for a token that pulls only `ref`'s repository; undefined where the registry issues none. */
export type PullTokenMinter = (
  ref: string,
  credentials: RegistryCredentials,
) => Promise<{ token: string; expiresInSeconds: number } | undefined>;

/** The distribution token protocol's `repository:<name>:pull` scope, asked of the registry's token service. */
export function registryPullTokenMinter(o: { plainHttpRegistries?: string[]; caFile?: string; timeoutMs?: number } = {}): PullTokenMinter {
  return async (ref, credentials) => {
    const r = parseArchiveRef(ref);
    if (r.kind !== 'registry') return undefined;
    const client = new DistributionClient(r.host, r.repository, {
      plainHttpHosts: o.plainHttpRegistries,
      caFile: o.caFile,
      timeoutMs: o.timeoutMs ?? 10_000,
      credentials,
    });
    return client.transport.repositoryPullToken();
  };
}

/**
 * The Secret for `inst` holding `source` (the narrowed docker config, or a repository pull
 * token from it) sealed to its node's key — or the refusal, or why it waits for the key. The
 * clear text is never stored: only the envelope and a keyed digest of it.
 */
export function instancePullSecret(
  gantryNamespace: string,
  inst: ProviderInstance,
  source: { secrets: readonly PullSecret[] } | { error: PullSecretError },
  token: { token: string; expiresAt: number } | undefined,
  seal: SealTarget,
): SecretObj {
  const ns = inst.metadata.namespace ?? 'default';
  const labels = instanceSecretLabels(instanceCredsLabels.pullMarker, inst);
  const base = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: SEALED_SECRET_TYPE,
    metadata: { name: instancePullCredsSecretName(ns, inst.metadata.name), namespace: gantryNamespace, labels },
  };
  const annotated = (annotations: Record<string, string>, data?: Record<string, string>): SecretObj => ({
    ...base,
    metadata: { ...base.metadata, annotations },
    ...(data ? { data } : {}),
  });
  if ('error' in source) return annotated({ [PULL_SECRET_ERROR_ANNOTATION]: `${source.error.code}: ${source.error.message}` });
  const host = token ? (parseArchiveRef(inst.spec.archive.ref) as { host: string }).host : '';
  const clear = token
    ? JSON.stringify({ auths: { [host]: { registrytoken: token.token } } })
    : narrowDockerConfig(inst.spec.archive.ref, source.secrets);
  const sealed = sealForNode(seal, clear, 'pull credential');
  if (sealed.pending !== undefined) return annotated({ [PULL_PENDING_ANNOTATION]: sealed.pending });
  return annotated(
    {
      [PULL_SEALED_FOR_ANNOTATION]: `${seal.node} ${seal.key}`,
      [PULL_SEALED_DIGEST_ANNOTATION]: sealed.digest,
      ...(token ? { [PULL_TOKEN_EXPIRES_ANNOTATION]: new Date(token.expiresAt).toISOString() } : {}),
    },
    sealedData(sealed.envelope),
  );
}

// what a Secret holds, for "no write needed": the envelope differs on every seal, so the digest stands for it
const sig = (s: SecretObj) =>
  JSON.stringify([
    s.type,
    s.metadata.labels?.[instanceCredsLabels.uid],
    ...[
      PULL_SECRET_ERROR_ANNOTATION,
      PULL_PENDING_ANNOTATION,
      PULL_TOKEN_EXPIRES_ANNOTATION,
      PULL_SEALED_FOR_ANNOTATION,
      PULL_SEALED_DIGEST_ANNOTATION,
    ].map((a) => s.metadata.annotations?.[a] ?? ''),
  ]);

const SEAL_KEY_RECHECK_MS = 5_000;

export class InstancePullCredentials {
  /** uid → signature of what we know the Secret holds */
  private readonly written = new Map<string, string>();
  /** uid → the token minted for it, from which credentials, and when to mint again */
  private readonly minted = new Map<string, { from: string; token?: { token: string; expiresAt: number }; refreshAt: number }>();

  constructor(
    client: KubeClient,
    private readonly namespace: string,
    private readonly log: Logger,
    /** With it, registries with a token service get a repository-scoped pull token instead of the credential itself. */
    private readonly mint?: PullTokenMinter,
    private readonly now: () => number = Date.now,
    /** The seal key (X…) a node's agent published on its Lease, if any (registry/sealed-credential.ts). */
    private readonly sealKeyOf: (node: string) => string | undefined = () => undefined,
    /** Where an older controller wrote them (the Gantry namespace): every one there is deleted by the sweep. */
    private readonly legacyNamespace?: string,
  ) {
    this.secrets = new SealedSecrets(client, namespace, instanceCredsLabels.pullMarker);
  }

  private readonly secrets: SealedSecrets;

  /** Per process: a restarted controller re-seals every credential once, and the digests say nothing to anyone else. */
  private readonly digestKey = randomBytes(32);

  /**
   * The repository pull token for `inst` (minted, or the one still fresh: refreshed at half its
   * life), undefined when the registry issues none or minting failed (the narrowed credential is
   * written then, and minting is tried again in 30 s).
   */
  private async tokenFor(
    inst: ProviderInstance,
    uid: string,
    secrets: readonly PullSecret[],
  ): Promise<{ token?: { token: string; expiresAt: number }; refreshAt: number } | undefined> {
    if (!this.mint) return undefined;
    let credentials: RegistryCredentials | undefined;
    try {
      credentials = credentialsFor(inst.spec.archive.ref, secrets);
    } catch {
      return undefined; // written as the narrowed (invalid) config: the agent reports it
    }
    if (!credentials) return undefined;
    const from = createHash('sha256')
      .update(JSON.stringify([inst.spec.archive.ref, credentials]))
      .digest('hex');
    const now = this.now();
    const have = this.minted.get(uid);
    if (have && have.from === from && now < have.refreshAt) return have;
    let next: { token?: { token: string; expiresAt: number }; refreshAt: number };
    try {
      const t = await this.mint(inst.spec.archive.ref, credentials);
      next = t
        ? { token: { token: t.token, expiresAt: now + t.expiresInSeconds * 1000 }, refreshAt: now + (t.expiresInSeconds * 1000) / 2 }
        : { refreshAt: now + 5 * 60_000 };
    } catch (err) {
      this.log.warn(
        { instance: keyOf(inst), err: (err as Error).message },
        'cannot mint a repository pull token; handing the narrowed credential instead',
      );
      next = { refreshAt: now + 30_000 };
    }
    this.minted.set(uid, { from, ...next });
    return next;
  }

  /**
   * Make the instance's Secret hold `source` (or a pull token from it); no API call when it
   * already does. Resolves with the ms after which it must be called again (a token to
   * refresh), or undefined.
   */
  async ensure(
    inst: ProviderInstance,
    source: { secrets: readonly PullSecret[] } | { error: PullSecretError },
  ): Promise<number | undefined> {
    const uid = inst.metadata.uid;
    if (!uid || inst.metadata.deletionTimestamp) return undefined;
    const minted = 'error' in source ? undefined : await this.tokenFor(inst, uid, source.secrets);
    const node = inst.spec.nodeName;
    const want = instancePullSecret(this.namespace, inst, source, minted?.token, {
      node,
      key: this.sealKeyOf(node),
      digestKey: this.digestKey,
    });
    const waiting = !!want.metadata.annotations?.[PULL_PENDING_ANNOTATION];
    // waiting for the node's seal key: look again soon (the key arrives with the agent's Lease)
    const again = minted ? Math.max(1_000, minted.refreshAt - this.now()) : waiting ? SEAL_KEY_RECHECK_MS : undefined;
    const s = sig(want);
    if (this.written.get(uid) === s) return again;
    // an earlier instance's of the same name, or an older controller's clear copy, is deleted first
    const had = await this.secrets.write(want, uid, sig);
    this.written.set(uid, s);
    this.log.info(
      {
        instance: keyOf(inst),
        secret: want.metadata.name,
        refused: 'error' in source ? source.error.code : undefined,
        waiting: waiting || undefined,
        token: !!minted?.token,
      },
      had ? 'instance pull credential refreshed' : 'instance pull credential written',
    );
    return again;
  }

  /** Delete every pull credential whose instance is no longer live, and every one left in the legacy namespace. */
  async sweep(live: (ns: string, name: string, uid: string) => boolean): Promise<void> {
    await this.removeLegacy();
    await this.secrets.sweep(live, (uid, name) => {
      this.written.delete(uid);
      this.minted.delete(uid);
      this.log.info({ secret: name }, 'instance pull credential deleted');
    });
  }

  /** Migration: an older controller's pull credentials in the Gantry namespace, where agents no longer read. */
  private async removeLegacy(): Promise<void> {
    const ns = this.legacyNamespace;
    if (!ns || ns === this.namespace) return;
    await this.secrets.sweep(
      () => false,
      (_uid, name) => this.log.info({ secret: `${ns}/${name}` }, 'removed a pull credential Secret left in the Gantry namespace'),
      ns,
    );
  }
}
