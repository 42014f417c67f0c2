/**
 * The membrane on the agent's side, in the manner of a kubelet's CSR: for each instance it
 * runs, the agent makes the host's NATS user key pair here on the node, keeps the seed in a
 * 0600 file in a 0700 directory under its cache, and writes only the public key to the
 * instance's status.hostKey. The controller answers with status.hostJwt (credentials/host.ts);
 * once that JWT is for this key, signed by the gantry account (`--membrane-account`, when
 * given) and unexpired (host-jwt-check.ts), the agent writes the host's 0600 .creds file.
 *
 * Until then the instance waits as CredentialsPending; a key the controller refuses
 * (HostCredentials=False, HostKeyRefused) is replaced by a fresh one, as is a key whose
 * credentials NATS refused (`refused()`): the Provider heals without a human. A renewed JWT
 * rewrites the creds file and tells whoever watches (the runner, which has its host reconnect
 * without dropping calls).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProviderInstance } from '../api/index.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import type { Condition } from '../runtime/toolkit/conditions.js';
import { keyOf } from '../runtime/toolkit/keys.js';
import { InstanceFailure } from './failure.js';
import { formatCreds } from '../client/creds.js';
import { decodeSeed, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { hostJwtProblem } from './host-jwt-check.js';
import { instanceStatusPath } from './status.js';

export interface HostIdentityOptions {
  kube: KubeClient;
  /** Where seeds and creds files live (made 0700). */
  dir: string;
  /** The gantry account's public key (A…): a host JWT must be signed by it. Without it any valid signature is taken (NATS checks the issuer). */
  account?: string;
  log: Logger;
  /** How long one start attempt waits for the JWT before reporting CredentialsPending (default 20 s). */
  waitMs?: number;
}

interface Identity {
  ref: { namespace: string; name: string; uid: string };
  seed: string;
  key: string;
  /** the JWT in the creds file now */
  jwt?: string;
  latest?: ProviderInstance;
  refusal?: string;
  wake: Set<() => void>;
  renewed: Set<() => void>;
}

const safeName = (uid: string) => uid.replace(/[^A-Za-z0-9-]/g, '_');

export class HostIdentities {
  private readonly ids = new Map<string, Identity>();

  constructor(private readonly o: HostIdentityOptions) {}

  /** The creds file for the instance's host, once the controller signed this node's key; throws CredentialsPending/HostKeyRefused. */
  async credsFor(inst: ProviderInstance): Promise<string> {
    const id = this.identity(inst);
    id.latest ??= inst;
    if (id.refusal) this.rotate(id, id.refusal);
    if (id.latest.status?.hostKey !== id.key) await this.publishKey(id);
    this.observe(id.latest);
    if (!id.jwt && !id.refusal) await this.waitForAnswer(id);
    if (id.refusal) throw new InstanceFailure('HostKeyRefused', `the controller refused this node's host key: ${id.refusal}`, true);
    if (!id.jwt)
      throw new InstanceFailure(
        'CredentialsPending',
        `waiting for the controller to sign host key ${id.key} (status.hostJwt): ${hostJwtProblem(id.latest?.status?.hostJwt, id.key, this.o.account, nowSec())}`,
        true,
      );
    return this.credsFile(id.ref.uid);
  }

  /** An instance as the informer now has it: a new JWT for our key is written to the creds file. */
  observe(inst: ProviderInstance): void {
    const id = this.ids.get(inst.metadata.uid ?? '');
    if (!id) return;
    id.latest = inst;
    const jwt = inst.status?.hostJwt;
    const refused = (inst.status?.conditions as Condition[] | undefined)?.find(
      (c) => c.type === 'HostCredentials' && c.status === 'False' && c.reason === 'HostKeyRefused',
    );
    if (refused && inst.status?.hostKey === id.key) id.refusal = refused.message ?? 'HostKeyRefused';
    else if (jwt && jwt !== id.jwt && !hostJwtProblem(jwt, id.key, this.o.account, nowSec())) {
      const renewal = id.jwt !== undefined;
      writeFileSync(this.credsFile(id.ref.uid), formatCreds(jwt, id.seed), { mode: 0o600 });
      id.jwt = jwt;
      id.refusal = undefined;
      if (renewal) for (const f of [...id.renewed]) f();
    } else return;
    for (const f of [...id.wake]) f();
  }

  /** Call `onRenewed` after each new JWT for the instance's key is in its creds file; returns the unsubscribe. */
  watch(inst: ProviderInstance, onRenewed: () => void): () => void {
    const id = this.identity(inst);
    id.renewed.add(onRenewed);
    return () => id.renewed.delete(onRenewed);
  }

  /** NATS refused the host's credentials: make a new key and ask the controller to sign it. */
  refused(inst: ProviderInstance, why: string): void {
    const id = this.ids.get(inst.metadata.uid ?? '');
    if (!id) return;
    this.rotate(id, why);
    this.publishKey(id).catch((e) => this.o.log.warn({ instance: keyOf(id.ref), err: (e as Error).message }, 'cannot write host key'));
  }

  /** The instance is gone from this node: its seed and creds go with it. */
  forget(ref: { uid: string }): void {
    this.ids.delete(ref.uid);
    for (const f of [this.seedFile(ref.uid), this.credsFile(ref.uid)]) rmSync(f, { force: true });
  }

  private identity(inst: ProviderInstance): Identity {
    const uid = inst.metadata.uid ?? '';
    const have = this.ids.get(uid);
    if (have) return have;
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.o.dir, 0o700);
    // kept across agent restarts: a restarted agent's hosts keep the key the controller signed
    let seed: string;
    try {
      seed = readFileSync(this.seedFile(uid), 'utf8').trim();
      if (decodeSeed(seed).type !== 'user') throw new Error('not a user seed');
    } catch {
      seed = this.newSeed(uid);
    }
    const ref = { namespace: inst.metadata.namespace ?? 'default', name: inst.metadata.name, uid };
    const id: Identity = { ref, seed, key: keyOfSeed(seed), wake: new Set(), renewed: new Set() };
    this.ids.set(uid, id);
    return id;
  }

  private rotate(id: Identity, why: string): void {
    id.seed = this.newSeed(id.ref.uid);
    id.key = keyOfSeed(id.seed);
    id.jwt = undefined;
    id.refusal = undefined;
    this.o.log.warn({ instance: keyOf(id.ref), hostKey: id.key, why }, 'new host key made on this node');
  }

  private newSeed(uid: string): string {
    const seed = generateSeed('user');
    writeFileSync(this.seedFile(uid), seed, { mode: 0o600 });
    return seed;
  }

  private async publishKey(id: Identity): Promise<void> {
    const key = id.key;
    await this.o.kube.mergePatch(instanceStatusPath(id.ref), { metadata: { uid: id.ref.uid }, status: { hostKey: key } });
    this.o.log.info({ instance: keyOf(id.ref), hostKey: key }, 'host key written to the instance status');
  }

  private waitForAnswer(id: Identity): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        id.wake.delete(done);
        resolve();
      };
      const t = setTimeout(done, this.o.waitMs ?? 20_000);
      id.wake.add(done);
    });
  }

  private seedFile(uid: string): string {
    return join(this.o.dir, `${safeName(uid)}.nk`);
  }

  private credsFile(uid: string): string {
    return join(this.o.dir, `${safeName(uid)}.creds`);
  }
}

// par's nkeys derive the key natively (the client library's JavaScript Ed25519 took tens of ms a start under load)
const keyOfSeed = (seed: string) => publicKeyFromSeed(seed);
const nowSec = () => Math.floor(Date.now() / 1000);
