/**
 * The CLI's cache of a log's tiles across invocations (docs/transparency.md "Tiles"): C2SP
 * tiles are immutable — a path always names the same bytes — so a tile read once is kept at
 * `$XDG_CACHE_HOME/gantry/tiles/<hash of origin and registry>/<C2SP path>` (GANTRY_TILE_CACHE
 * overrides the root; `off` disables it) and the next `gantry log …` reads only the tiles it
 * has not seen. Nothing cached is trusted: TiledTree authenticates every hash against the
 * signed root it is read under, so a poisoned cache only fails (TLOG_TILE_MISMATCH). Files are
 * written atomically; a cache that cannot be written only costs requests.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { atomicWrite } from '../registry/index.js';
import type { ContentBackend } from '../registry/index.js';
import { tiles } from '../tlog/index.js';

type TileSource = tiles.TileSource;

/** Where the tiles of `origin` as served by `backend` are cached, or undefined when the cache is off. */
export function tileCacheDir(origin: string, backend: ContentBackend, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GANTRY_TILE_CACHE === 'off') return undefined;
  const root = env.GANTRY_TILE_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gantry', 'tiles');
  // per origin *and* registry: a mirror showing another history must be read from its own tiles
  const key = createHash('sha256').update(`${origin}\n${backend.description}`).digest('hex').slice(0, 32);
  return join(root, key);
}

/** `source` behind a directory of tiles already read. */
export function diskTileCache(dir: string, source: TileSource): TileSource {
  const through = async (path: string, fetch: () => Promise<Uint8Array | undefined>): Promise<Uint8Array | undefined> => {
    const file = join(dir, path);
    try {
      return new Uint8Array(readFileSync(file));
    } catch {
      // not cached (or unreadable): fetch it
    }
    const bytes = await fetch();
    if (bytes) {
      try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        atomicWrite(file, bytes);
      } catch {
        // a cache that cannot be written only costs requests next time
      }
    }
    return bytes;
  };
  return {
    hashTile: (t) => through(tiles.hashTilePath(t), () => source.hashTile(t)),
    bundle: (b) => through(tiles.bundlePath(b), () => source.bundle(b)),
  };
}
