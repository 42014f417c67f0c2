/** The template hash (template-hash.ts): what makes a new template, and what does not. */
import { describe, expect, it } from 'vitest';
import type { ProviderInstanceSpec } from '../../../api/instance.js';
import { canonicalJson, templateHashOf, templateOf } from '../../../controller/providers/template-hash.js';

const spec = (extra: Partial<ProviderInstanceSpec> = {}): ProviderInstanceSpec => ({
  provider: 'kv',
  nodeName: 'n1',
  archive: { ref: 'r.test/acme/kv', digest: `sha256:${'a'.repeat(64)}`, revision: 1 },
  target: 'x86_64-linux',
  linkName: 'default',
  config: { b: 1, a: { d: 2, c: [3, { f: 4, e: 5 }] } },
  ...extra,
});

describe('templateHashOf', () => {
  it('is 10 hex characters, the same for another node, target or key order', () => {
    const h = templateHashOf(spec());
    expect(h).toMatch(/^[0-9a-f]{10}$/);
    expect(templateHashOf(spec({ nodeName: 'n2', target: 'aarch64-linux' }))).toBe(h);
    expect(templateHashOf(spec({ config: { a: { c: [3, { e: 5, f: 4 }], d: 2 }, b: 1 } }))).toBe(h);
    expect(templateHashOf(templateOf(spec()))).toBe(h);
  });

  it('changes with the revision, the config, the secret sources, resources and issuers', () => {
    const h = templateHashOf(spec());
    const others = [
      spec({ archive: { ...spec().archive, revision: 2 } }),
      spec({ config: { b: 2 } }),
      spec({ secretConfig: { keys: ['pw'], sources: [{ name: 's', resourceVersion: '1' }] } }),
      spec({ secretConfig: { keys: ['pw'], sources: [{ name: 's', resourceVersion: '2' }] } }),
      spec({ resources: { memory: '128Mi' } }),
      spec({ issuers: ['A'.padEnd(56, 'B')] }),
    ];
    const hashes = others.map(templateHashOf);
    expect(new Set([h, ...hashes]).size).toBe(others.length + 1);
  });

  it('canonical JSON sorts keys at every level and leaves undefined members out', () => {
    expect(canonicalJson({ b: [1, { d: undefined, c: 'x' }, undefined], a: null })).toBe('{"a":null,"b":[1,{"c":"x"},null]}');
  });
});
