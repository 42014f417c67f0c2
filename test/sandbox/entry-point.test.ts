/**
 * sandbox/index.ts is what the CLI imports for every command that reads a state dir (`gantry
 * call` included), so what it loads statically must stay light: no Kubernetes client, no
 * launcher. The launcher itself loads when startSandbox is called.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';

const root = packageRoot();

/** Every module a file loads at import time (static, non-type imports and re-exports), transitively. */
function staticGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'";]*?\sfrom\s+'([^']+)'/gms)) {
    const spec = m[1];
    if (spec.startsWith('.')) staticGraph(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), seen);
    else seen.add(spec);
  }
  return seen;
}

describe('sandbox/index.ts', () => {
  it('loads neither the Kubernetes client nor the launcher at import time', () => {
    const loaded = [...staticGraph(join(root, 'sandbox', 'index.ts'))].map((f) => (f.startsWith('/') ? relative(root, f) : f));
    expect(loaded).toContain('sandbox/launcher/state-dir.ts');
    expect(loaded).not.toContain('runtime/kube.ts');
    expect(loaded).not.toContain('@kubernetes/client-node');
    expect(loaded).not.toContain('sandbox/launcher/sandbox.ts');
  });

  it('starts the sandbox through the launcher it loads on first call', async () => {
    const index = await import('../../sandbox/index.js');
    expect(typeof index.startSandbox).toBe('function');
    await expect(index.startSandbox({ stateDir: join(root, 'nonexistent'), natsServers: 0 })).rejects.toMatchObject({
      code: 'SANDBOX_BAD_COUNT',
    });
  });
});
