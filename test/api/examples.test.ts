import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ProviderSpec } from '../../api/index.js';
import { packageRoot } from '../../runtime/paths.js';

describe('examples/*.yaml', () => {
  it('are valid Providers', () => {
    const dir = join(packageRoot(), 'examples');
    const files = readdirSync(dir).filter((f) => f.startsWith('provider') && f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
        const o = doc.toJS();
        expect(o.apiVersion, f).toBe('gantry.dev/v1alpha1');
        expect(o.kind, f).toBe('Provider');
        const r = ProviderSpec.safeParse(o.spec);
        expect(r.success, `${f}: ${r.error?.message}`).toBe(true);
      }
    }
  });
});
