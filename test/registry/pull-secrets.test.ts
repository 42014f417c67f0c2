import { describe, it, expect } from 'vitest';
import { credentialsFor, pullSecretOf, PullSecretError, type PullSecret } from '../../registry/pull-secrets.js';

const secret = (name: string, auths: Record<string, unknown>): PullSecret => ({
  namespace: 'apps',
  name,
  dockerConfig: JSON.stringify({ auths }),
});
const basic = (u: string) => ({ auth: Buffer.from(`${u}:pw`).toString('base64') });

describe('credentialsFor', () => {
  it("takes the first secret with an entry for the ref's registry host, and none for oci-layout refs", () => {
    const secrets = [
      secret('other', { 'elsewhere.example': basic('no') }),
      secret('first', { 'reg.example:5000': basic('first') }),
      secret('second', { 'reg.example:5000': basic('second') }),
    ];
    expect(credentialsFor('reg.example:5000/acme/kv', secrets)).toMatchObject({ username: 'first', password: 'pw' });
    expect(credentialsFor('unknown.example/acme/kv', secrets)).toBeUndefined();
    expect(credentialsFor('oci-layout:/tmp/x', secrets)).toBeUndefined();
    expect(credentialsFor('reg.example:5000/acme/kv', [])).toBeUndefined();
  });

  it('refuses a secret whose document is not docker config JSON, naming the secret', () => {
    const bad: PullSecret = { namespace: 'apps', name: 'broken', dockerConfig: '{not json' };
    let err: unknown;
    try {
      credentialsFor('reg.example:5000/acme/kv', [bad]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PullSecretError);
    expect((err as PullSecretError).code).toBe('PULL_SECRET_INVALID');
    expect((err as Error).message).toMatch(/^pull secret apps\/broken is not valid docker config JSON/);
  });

  it('reads a dockerconfigjson Secret object and refuses any other type', () => {
    const data = { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') };
    expect(pullSecretOf({ type: 'kubernetes.io/dockerconfigjson', data }, 'apps', 's')).toEqual({
      namespace: 'apps',
      name: 's',
      dockerConfig: '{"auths":{}}',
    });
    expect(() => pullSecretOf({ type: 'Opaque', data }, 'apps', 's')).toThrow(/has type Opaque/);
    expect(() => pullSecretOf({ type: 'kubernetes.io/dockerconfigjson' }, 'apps', 's')).toThrow(/no .dockerconfigjson key/);
  });
});
