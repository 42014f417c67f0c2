/**
 * Forging an archive's summary the way any registry user could (oras push, curl): the genuine
 * manifest under `tag` re-pushed with its config blob altered by `forge` — the same archive
 * layer — through Gantry's own low-level client (registry/distribution). Returns the new digest.
 */
import { DistributionClient, OCI_MANIFEST } from '../../registry/index.js';
import { sha256Digest } from '../../registry/digest.js';

export type ForgeableConfig = Record<string, any>;

export async function forgeSummary(
  host: string,
  repo: string,
  tag: string,
  forge: (config: ForgeableConfig, read: (tag: string) => Promise<ForgeableConfig>) => void | Promise<void>,
): Promise<string> {
  const raw = new DistributionClient(host, repo, { plainHttpHosts: [host] });
  const read = async (t: string) => {
    const m = await raw.getManifest(t);
    if (!m) throw new Error(`${host}/${repo}: no tag ${t} to forge`);
    const manifest = JSON.parse(Buffer.from(m.bytes).toString());
    return { manifest, config: JSON.parse(Buffer.from(await raw.getBlob(manifest.config.digest)).toString()) as ForgeableConfig };
  };
  const { manifest, config } = await read(tag);
  await forge(config, async (t) => (await read(t)).config);
  const bytes = Buffer.from(JSON.stringify(config));
  await raw.putBlob(sha256Digest(bytes), bytes);
  manifest.config = { ...manifest.config, digest: sha256Digest(bytes), size: bytes.length };
  return raw.putManifest(tag, Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
}
