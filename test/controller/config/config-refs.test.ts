/**
 * spec.configFrom merged and split (controller/providers/config-refs.ts), pure: the order in
 * which references win, which keys are secret (named on the instance, valued only for the
 * sealed writer), and that every bad reference is its own error with no config at all.
 */
import { describe, expect, it } from 'vitest';
import { ProviderSpec } from '../../../api/provider.js';
import {
  ConfigRefError,
  type ConfigKind,
  type ConfigLookup,
  type ConfigObject,
  decodeConfigObject,
  resolveConfig,
  sameSecretConfig,
} from '../../../controller/providers/config-refs.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const cm = (name: string, data: Record<string, string>, rv = '1', binaryData?: Record<string, string>) =>
  decodeConfigObject('ConfigMap', 'apps', name, { metadata: { resourceVersion: rv }, data, binaryData });
const secret = (name: string, data: Record<string, string>, rv = '1') =>
  decodeConfigObject('Secret', 'apps', name, {
    metadata: { resourceVersion: rv },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });

/** A lookup over fixed objects; a name not given is `undefined` (still being read). */
function lookup(objects: Partial<Record<`${ConfigKind}/${string}`, ConfigObject | ConfigRefError>>): ConfigLookup {
  return (kind, name) => objects[`${kind}/${name}`];
}
const resolved = (r: ReturnType<typeof resolveConfig>) => {
  if (!('resolved' in r)) throw new Error(`not resolved: ${JSON.stringify(r)}`);
  return r.resolved;
};
const failed = (r: ReturnType<typeof resolveConfig>) => {
  if (!('error' in r)) throw new Error(`not failed: ${JSON.stringify(r)}`);
  return r.error;
};

describe('resolveConfig', () => {
  it('merges in list order (later wins), spec.config last, and keeps secret values out of the config', () => {
    const r = resolved(
      resolveConfig(
        {
          configFrom: [{ configMapRef: { name: 'base' } }, { secretRef: { name: 'db' } }, { configMapRef: { name: 'over' } }],
          config: { level: 'debug', nested: { a: 1 } },
        },
        'apps',
        lookup({
          'ConfigMap/base': cm('base', { host: 'db.local', user: 'base-user', level: 'info', password: 'not-secret-yet' }),
          'Secret/db': secret('db', { password: 'hunter2', user: 'secret-user', token: 't0k' }, '42'),
          'ConfigMap/over': cm('over', { token: 'public-token' }),
        }),
      ),
    );
    expect(r.config).toEqual({ host: 'db.local', level: 'debug', nested: { a: 1 }, token: 'public-token' });
    expect(r.secretConfig).toEqual({ keys: ['password', 'user'], sources: [{ name: 'db', resourceVersion: '42' }] });
    expect(r.secretValues).toEqual({ password: 'hunter2', user: 'secret-user' });
    expect(JSON.stringify([r.config, r.secretConfig])).not.toContain('hunter2');
  });

  it('spec.config overriding every key of a Secret leaves no secret key and names no source', () => {
    const r = resolved(
      resolveConfig(
        { configFrom: [{ secretRef: { name: 's' } }], config: { k: 'inline' } },
        'apps',
        lookup({ 'Secret/s': secret('s', { k: 'v' }) }),
      ),
    );
    expect(r).toEqual({ config: { k: 'inline' }, secretValues: {} });
  });

  it('a later Secret wins over an earlier ConfigMap key; sources name each Secret used once, sorted, and not an unused one', () => {
    const r = resolved(
      resolveConfig(
        {
          configFrom: [
            { secretRef: { name: 'zeta' } },
            { secretRef: { name: 'unused' } },
            { configMapRef: { name: 'c' } },
            { secretRef: { name: 'alpha' } },
            { secretRef: { name: 'zeta' }, keys: ['z2'] },
          ],
        },
        'apps',
        lookup({
          'Secret/zeta': secret('zeta', { z1: 'Z1', z2: 'Z2' }, '7'),
          'Secret/unused': secret('unused', { u: 'U' }, '3'),
          'ConfigMap/c': cm('c', { u: 'plain', a: 'plain-a' }),
          'Secret/alpha': secret('alpha', { a: 'A' }, '9'),
        }),
      ),
    );
    expect(r.config).toEqual({ u: 'plain' });
    expect(r.secretConfig).toEqual({
      keys: ['a', 'z1', 'z2'],
      sources: [
        { name: 'alpha', resourceVersion: '9' },
        { name: 'zeta', resourceVersion: '7' },
      ],
    });
    expect(r.secretValues).toEqual({ a: 'A', z1: 'Z1', z2: 'Z2' });
  });

  it('keys selects only the listed keys; a listed key the object lacks is ConfigKeyNotFound naming object and key', () => {
    const objects = lookup({ 'ConfigMap/c': cm('c', { a: '1', b: '2' }), 'Secret/s': secret('s', { pw: 'hunter2' }) });
    expect(resolved(resolveConfig({ configFrom: [{ configMapRef: { name: 'c' }, keys: ['b'] }] }, 'apps', objects)).config).toEqual({
      b: '2',
    });
    const e = failed(resolveConfig({ configFrom: [{ secretRef: { name: 's' }, keys: ['pw', 'nope'] }] }, 'apps', objects));
    expect([e.name, e.reason, e.message]).toEqual(['ConfigRefError', 'ConfigKeyNotFound', 'Secret apps/s has no key nope']);
  });

  it('without configFrom the config is spec.config as written (so an upgrade changes no template)', () => {
    const config = { a: { b: [1, 2] } };
    expect(resolveConfig({ config }, 'apps', () => undefined)).toEqual({ resolved: { config, secretValues: {} } });
    expect(resolveConfig({ config: {} }, 'apps', () => undefined)).toEqual({ resolved: { config: {}, secretValues: {} } });
    expect(resolveConfig({}, 'apps', () => undefined)).toEqual({ resolved: { secretValues: {} } });
    expect(resolveConfig({ configFrom: [] }, 'apps', () => undefined)).toEqual({ resolved: { secretValues: {} } });
  });

  it('is pending while any reference is first read, even after a failing one (every read starts in one pass)', () => {
    const asked: string[] = [];
    const r = resolveConfig(
      { configFrom: [{ configMapRef: { name: 'gone' } }, { secretRef: { name: 'later' } }] },
      'apps',
      (kind, name) => {
        asked.push(`${kind}/${name}`);
        return name === 'gone' ? new ConfigRefError('ConfigMapNotFound', 'ConfigMap apps/gone does not exist') : undefined;
      },
    );
    expect(r).toEqual({ pending: true });
    expect(asked).toEqual(['ConfigMap/gone', 'Secret/later']);
  });

  it('the first failing reference is the error; an optional missing object contributes nothing; an optional forbidden one still fails', () => {
    const gone = (kind: ConfigKind) =>
      new ConfigRefError(kind === 'Secret' ? 'SecretNotFound' : 'ConfigMapNotFound', `${kind} apps/x does not exist`);
    const forbidden = new ConfigRefError('ConfigRefForbidden', 'forbidden');
    const objects = lookup({
      'ConfigMap/gone': gone('ConfigMap'),
      'Secret/gone': gone('Secret'),
      'Secret/forbidden': forbidden,
      'ConfigMap/c': cm('c', { a: '1' }),
    });
    expect(
      failed(
        resolveConfig(
          { configFrom: [{ configMapRef: { name: 'c' } }, { secretRef: { name: 'gone' } }, { configMapRef: { name: 'gone' } }] },
          'apps',
          objects,
        ),
      ).reason,
    ).toBe('SecretNotFound');
    expect(failed(resolveConfig({ configFrom: [{ configMapRef: { name: 'gone' } }] }, 'apps', objects)).reason).toBe('ConfigMapNotFound');
    const opt = resolveConfig(
      {
        configFrom: [
          { configMapRef: { name: 'gone', optional: true }, keys: ['a'] },
          { secretRef: { name: 'gone', optional: true } },
          { configMapRef: { name: 'c' } },
        ],
      },
      'apps',
      objects,
    );
    expect(resolved(opt).config).toEqual({ a: '1' });
    expect(failed(resolveConfig({ configFrom: [{ secretRef: { name: 'forbidden', optional: true } }] }, 'apps', objects))).toBe(forbidden);
  });

  it('a value that is not text is ConfigValueInvalid only when selected; never the value in the message', () => {
    const bad = decodeConfigObject('Secret', 'apps', 's', {
      metadata: { resourceVersion: '1' },
      data: { bin: b64(Buffer.from([0xff, 0xfe, 0x00])), ok: b64('fine') },
    });
    const objects = lookup({ 'Secret/s': bad, 'ConfigMap/c': cm('c', { t: 'text' }, '1', { blob: b64('xx') }) });
    expect(resolved(resolveConfig({ configFrom: [{ secretRef: { name: 's' }, keys: ['ok'] }] }, 'apps', objects)).secretValues).toEqual({
      ok: 'fine',
    });
    const e = failed(resolveConfig({ configFrom: [{ secretRef: { name: 's' } }] }, 'apps', objects));
    expect([e.reason, e.message]).toEqual(['ConfigValueInvalid', 'Secret apps/s key bin is not UTF-8 text']);
    const m = failed(resolveConfig({ configFrom: [{ configMapRef: { name: 'c' } }] }, 'apps', objects));
    expect(m.reason).toBe('ConfigValueInvalid');
    expect(m.message).toContain('ConfigMap apps/c key blob is binaryData');
    expect(resolved(resolveConfig({ configFrom: [{ configMapRef: { name: 'c' }, keys: ['t'] }] }, 'apps', objects)).config).toEqual({
      t: 'text',
    });
  });

  it('a key named __proto__ stays a key: it neither pollutes nor is lost', () => {
    const c = decodeConfigObject('ConfigMap', 'apps', 'c', { data: JSON.parse('{"__proto__":"p","constructor":"k"}') });
    const s = decodeConfigObject('Secret', 'apps', 's', { data: JSON.parse(`{"__proto__":"${b64('sp')}"}`) });
    const plain = resolved(resolveConfig({ configFrom: [{ configMapRef: { name: 'c' } }] }, 'apps', lookup({ 'ConfigMap/c': c })));
    expect(Object.keys(plain.config!).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(plain.config)).toBe(Object.prototype);
    const sec = resolved(resolveConfig({ configFrom: [{ secretRef: { name: 's' } }] }, 'apps', lookup({ 'Secret/s': s })));
    expect(Object.keys(sec.secretValues)).toEqual(['__proto__']);
    expect(sec.secretConfig?.keys).toEqual(['__proto__']);
  });
});

describe('decodeConfigObject', () => {
  it('keeps ConfigMap data as is, decodes Secret data from base64, and records the resourceVersion', () => {
    const c = cm('c', { a: 'x==' }, '11');
    expect([c.kind, c.name, c.resourceVersion, [...c.data]]).toEqual(['ConfigMap', 'c', '11', [['a', 'x==']]]);
    const s = secret('s', { pw: 'päss' }, '12');
    expect([s.kind, s.resourceVersion, [...s.data], [...s.unusable]]).toEqual(['Secret', '12', [['pw', 'päss']], []]);
    expect(decodeConfigObject('Secret', 'apps', 'e', {}).resourceVersion).toBe('');
  });
});

describe('sameSecretConfig', () => {
  const a = { keys: ['k'], sources: [{ name: 's', resourceVersion: '1' }] };
  it('is true only for the same keys and the same Secret resourceVersions', () => {
    expect(sameSecretConfig(a, structuredClone(a))).toBe(true);
    expect(sameSecretConfig(a, { ...a, keys: ['k', 'l'] })).toBe(false);
    expect(sameSecretConfig(a, { ...a, sources: [{ name: 's', resourceVersion: '2' }] })).toBe(false);
    expect(sameSecretConfig(a, { ...a, sources: [{ name: 't', resourceVersion: '1' }] })).toBe(false);
    expect(sameSecretConfig(undefined, a)).toBe(false);
    expect(sameSecretConfig(a, undefined)).toBe(false);
  });
});

describe('spec.configFrom items', () => {
  it('name exactly one of configMapRef or secretRef (both or neither is InvalidSpec with this message)', () => {
    const parse = (item: unknown) => ProviderSpec.safeParse({ archive: { ref: 'r.test/acme/kv' }, configFrom: [item] });
    expect(parse({ configMapRef: { name: 'c' } }).success).toBe(true);
    expect(parse({ secretRef: { name: 's', optional: true }, keys: ['pw'] }).success).toBe(true);
    for (const bad of [{ configMapRef: { name: 'c' }, secretRef: { name: 's' } }, { keys: ['a'] }]) {
      const r = parse(bad);
      expect(r.success).toBe(false);
      expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
        ['configFrom.0', 'each configFrom item names exactly one of configMapRef or secretRef'],
      ]);
    }
  });
});
