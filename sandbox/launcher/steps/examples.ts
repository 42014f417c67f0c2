/**
 * Step 6, the examples: examples/ also holds manifests for real clusters; the sandbox applies
 * those written for it (they name its registry with the placeholder), else its own two
 * Providers for the example archives. What exists already is left as is.
 */
import { join } from 'node:path';
import { packageRoot } from '../../../runtime/paths.js';
import { type AppliedExample, applyExamples, applyObjects, defaultExampleProviders, sandboxExampleFiles } from '../cluster-objects.js';
import { EXAMPLE_ARCHIVES, type PublishedArchive } from '../example-archives.js';
import type { Launch } from '../launch.js';
import type { SandboxRegistry } from '../registry-server.js';

export async function applySandboxExamples(
  l: Launch,
  registry: SandboxRegistry,
  archives: PublishedArchive[],
  examplesDir = join(packageRoot(), 'examples'),
): Promise<AppliedExample[]> {
  const files = sandboxExampleFiles(examplesDir);
  const examples = files.length
    ? await applyExamples(l.kube!, files, registry.location)
    : await applyObjects(
        l.kube!,
        defaultExampleProviders(archives.map((a) => ({ ...a, capid: EXAMPLE_ARCHIVES.find((e) => e.name === a.name)!.capid }))),
      );
  for (const e of examples)
    l.say(`  example        ${e.kind} ${e.namespace}/${e.name}${e.created ? ' (applied)' : ' (exists; left as is)'}`);
  return examples;
}
