import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { renderCrds, providerCrd, providerInstanceCrd } from '../../api/crds.js';
import { ProviderSpec, targetForNode, nodePlatform } from '../../api/index.js';
import { packageRoot } from '../../runtime/paths.js';

describe('crds/', () => {
  it('matches the zod schemas (run `npm run build && node dist/api/generate-crds.js` when this fails)', () => {
    for (const [name, text] of Object.entries(renderCrds())) {
      const file = join(packageRoot(), 'crds', name);
      expect(existsSync(file), `${file} missing`).toBe(true);
      expect(readFileSync(file, 'utf8'), `crds/${name} is stale`).toBe(text);
    }
  });

  it('is a structural schema with scale, status, short names, category and printer columns', () => {
    const p = parse(renderCrds()['gantry.dev_providers.yaml']);
    const v = p.spec.versions[0];
    expect(p.spec.names.shortNames).toContain('prov');
    expect(p.spec.names.categories).toEqual(['gantry']);
    expect(v.subresources.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    });
    expect(v.additionalPrinterColumns.map((c: any) => c.name.toUpperCase())).toEqual([
      'CAPID',
      'REVISION',
      'DESIRED',
      'READY',
      'AUTOSCALE',
      'TEMPLATE',
      'AGE',
    ]);
    const spec = v.schema.openAPIV3Schema.properties.spec;
    expect(spec.required).toEqual(['archive']);
    expect(spec.properties.mode.enum).toEqual(['Spread', 'Daemon']);
    expect(spec.properties.config['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(spec.properties.config.additionalProperties).toBeUndefined();
    expect(JSON.stringify(p)).not.toContain('$schema');
    const i = providerInstanceCrd().spec.versions[0];
    expect(i.additionalPrinterColumns.map((c: any) => c.name.toUpperCase())).toEqual([
      'PROVIDER',
      'NODE',
      'TARGET',
      'PHASE',
      'RESTARTS',
      'AGE',
    ]);
    expect(i.schema.openAPIV3Schema.properties.status.properties.phase.enum).toContain('Running');
    expect(providerCrd().metadata.name).toBe('providers.gantry.dev');
  });
});

describe('ProviderSpec', () => {
  it('accepts a full spec and rejects bad refs, capids, modes and issuers with paths', () => {
    expect(
      ProviderSpec.safeParse({ archive: { ref: '127.0.0.1:5000/providers/kv', revision: 2 }, replicas: 3, capabilityId: 'wascap:keyvalue' })
        .success,
    ).toBe(true);
    expect(ProviderSpec.safeParse({ archive: { ref: 'oci-layout:/tmp/x' } }).success).toBe(true);
    const bad = ProviderSpec.safeParse({
      archive: { ref: 'not a ref', revision: 0 },
      capabilityId: 'nocolon',
      mode: 'Everywhere',
      trust: { issuers: ['VABC'] },
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual(['archive.ref', 'archive.revision', 'capabilityId', 'mode', 'trust.issuers.0']);
  });
});

describe('node target mapping', () => {
  it('maps well-known arch/os labels to PAR targets', () => {
    expect(targetForNode({ 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' })).toBe('x86_64-linux');
    expect(targetForNode({ 'kubernetes.io/arch': 'arm64', 'kubernetes.io/os': 'darwin' })).toBe('aarch64-macos');
    expect(targetForNode({ 'kubernetes.io/arch': 'ppc64le', 'kubernetes.io/os': 'linux' })).toBe('powerpc64le-linux');
    expect(targetForNode({ 'kubernetes.io/arch': 'sparc', 'kubernetes.io/os': 'linux' })).toBeUndefined();
    expect(targetForNode(undefined)).toBeUndefined();
    expect(nodePlatform({ 'kubernetes.io/arch': 'arm64', 'kubernetes.io/os': 'linux' })).toBe('arm64/linux');
  });
});
