/**
 * What a trust change does on an agent (agent/trust-follow.ts), against the policy read from a
 * real ConfigMap on the API server: which instances are no longer trusted and why, and which
 * runners are revoked when the policy narrows (only those whose verified issuer left it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceFailure } from '../../agent/failure.js';
import { AgentTrust, type TrustedRunner } from '../../agent/trust-follow.js';
import { TRUST_POLICY_HINT } from '../../api/trust.js';
import { generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { isNotFound, KubeClient } from '../../runtime/kube.js';
import { logger } from '../../runtime/log.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';

const NS = 'gantry-system';
const CM = 'gantry-trust';
const key = () => publicKeyFromSeed(generateSeed('account'));
const [K1, K2, K3] = [key(), key(), key()];
const DIGEST = `sha256:${'a'.repeat(64)}`;

const inst = (name: string, issuers?: string[]) =>
  ({ metadata: { name, namespace: 'apps' }, spec: { archive: { digest: DIGEST }, ...(issuers ? { issuers } : {}) } }) as any;

describe('AgentTrust', () => {
  let api: TestApiServer;
  let admin: KubeClient;
  let trust: AgentTrust;

  const setPolicy = async (issuers: string) => {
    const before = trust.issuers;
    await admin.replace(`/api/v1/namespaces/${NS}/configmaps/${CM}`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: NS },
      data: { 'trusted-issuers': issuers },
    });
    for (let i = 0; i < 300 && trust.issuers === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(trust.issuers).not.toBe(before);
  };

  beforeAll(async () => {
    api = await startTestApiServer();
    admin = new KubeClient(api.kc);
    await admin.get(`/api/v1/namespaces/${NS}`).catch(async (err) => {
      if (!isNotFound(err)) throw err;
      await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    });
    await admin.create(`/api/v1/namespaces/${NS}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: NS },
      data: { 'trusted-issuers': `${K1},${K2}` },
    });
    trust = new AgentTrust(new KubeClient((await api.identity('agent')).kc), { namespace: NS, name: CM }, logger('test'));
    await trust.start();
  }, 60_000);
  afterAll(async () => {
    await trust?.stop();
    admin?.close();
    await api?.stop();
  });

  it('reads the policy before anything starts', () => {
    expect(trust.issuers).toEqual([K1, K2]);
  });

  it('untrusted: undefined while the signer is trusted, with or without a narrowing that keeps it', () => {
    expect(trust.untrusted(inst('a'), K1)).toBeUndefined();
    expect(trust.untrusted(inst('a', [K2, K1]), K1)).toBeUndefined();
    // spec.issuers as the controller copied it before the policy dropped K3: narrowed further, not refused
    expect(trust.untrusted(inst('a', [K1, K3]), K1)).toBeUndefined();
  });

  it('untrusted: a signer outside the policy, or outside the instance narrowing, is named with the digest and the instance', () => {
    const msg = `archive ${DIGEST} is signed by ${K3}, which ${TRUST_POLICY_HINT} no longer trusts for apps/a (changed at run time): its host is stopped; trust only narrows what runs, add the key back to run it again`;
    expect(trust.untrusted(inst('a'), K3)).toBe(msg);
    expect(trust.untrusted(inst('a', [K2]), K1)).toContain(`is signed by ${K1}`);
    // a signer nobody recorded is not trusted (fail closed)
    expect(trust.untrusted(inst('a'), undefined)).toContain('is signed by an unknown issuer');
    expect(trust.untrusted({ ...inst('b'), metadata: { name: 'b' } }, K3)).toContain('no longer trusts for default/b (changed');
  });

  it('follow: a narrowing revokes exactly the runners whose verified issuer left, with UntrustedIssuer', async () => {
    const revoked: Record<string, InstanceFailure> = {};
    const runner = (name: string, issuer: string | undefined, issuers?: string[]): TrustedRunner => ({
      instance: inst(name, issuers),
      issuer,
      revoke: (f) => {
        revoked[name] = f;
      },
    });
    const runners = [
      runner('k1', K1),
      runner('k2', K2),
      runner('pulling', undefined),
      // spec.issuers as the controller copies the cluster list: only the signer counts
      runner('k1-copied', K1, [K1, K2]),
      runner('k2-copied', K2, [K1, K2]),
    ];
    trust.follow(() => runners);
    await setPolicy(K2);
    expect(Object.keys(revoked).sort()).toEqual(['k1', 'k1-copied']);
    expect(revoked.k1.reason).toBe('UntrustedIssuer');
    expect(revoked.k1.retryable).toBe(false);
    expect(revoked.k1.message).toContain(`is signed by ${K1}`);
    expect(revoked['k1-copied'].message).toContain(`is signed by ${K1}`);
    // widening revokes nothing more
    for (const k of Object.keys(revoked)) delete revoked[k];
    await setPolicy(`${K1},${K2},${K3}`);
    expect(revoked).toEqual({});
    // emptied: every prepared runner, named with the reason
    await setPolicy('');
    expect(Object.keys(revoked).sort()).toEqual(['k1', 'k1-copied', 'k2', 'k2-copied']);
    expect(revoked.k2.message).toBe(
      `no trusted issuers: ${TRUST_POLICY_HINT} is now empty or gone, so nothing is trusted: the host of archive ${DIGEST} is stopped`,
    );
  });
});
