/**
 * Step 3, the registry and the example archives: the registry (docker-registry, or an OCI
 * layout), the dev signing keys whose account is the trusted issuer, and the example providers
 * built, signed and published for this host's target.
 */
import { join } from 'node:path';
import { hostTarget } from '../../../agent/target.js';
import { packageRoot } from '../../../runtime/paths.js';
import { buildProviders, type DevKeys, devKeys, type PublishedArchive, publishExamples } from '../example-archives.js';
import type { Launch } from '../launch.js';
import { type SandboxRegistry, startRegistry } from '../registry-server.js';

export async function startRegistryStep(l: Launch): Promise<SandboxRegistry> {
  const registry = await startRegistry({
    kind: l.st.registry.kind,
    dir: l.sd.registryDir,
    port: l.st.registry.port,
    logFile: l.sd.log('registry'),
    onUnexpectedExit: l.unexpected,
    group: l.group,
  });
  l.checkInterrupted();
  l.st.registry.location = registry.location;
  l.say(`  registry       ${registry.location} (${registry.kind})`);
  return registry;
}

/** The dev keys (their issuer kept in sandbox.json) and the example archives, published to `registry`. */
export async function publishExampleArchives(
  l: Launch,
  registry: SandboxRegistry,
): Promise<{ keys: DevKeys; archives: PublishedArchive[] }> {
  const keys = devKeys(l.sd.keysDir);
  l.st.issuer = keys.issuer;
  l.sd.writeState(l.st);
  const providersDir = join(packageRoot(), 'providers');
  buildProviders(providersDir, l.sd.log('providers-build'));
  const archives = await publishExamples({
    refFor: registry.refFor,
    plainHttp: registry.plainHttp,
    providersDir,
    target: hostTarget(),
    keys,
  });
  for (const a of archives)
    l.say(`  archive        ${a.ref}  revision ${a.revision}${a.pushed ? ' (signed and pushed)' : ' (already published)'}`);
  return { keys, archives };
}
