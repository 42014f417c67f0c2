/**
 * bench/tlog's tiles line, in memory (no registry; bench/tlog's scale line reads them from
 * one): how long growTiles takes to generate a log of n entries as tiles, and what a reader of
 * a fresh TiledTree pays for an inclusion proof, a consistency proof and the old root, in tile
 * reads and milliseconds (median of 5 fresh trees), each proof verified.
 */
import { verifyConsistency, verifyInclusion } from '../../tlog/merkle.js';
import { TiledTree, type TileSource } from '../../tlog/tiles/index.js';
import { median } from '../timing.js';
import { generateTiledLog } from './tiled-log.js';

export async function tilesInMemory(sizes: readonly number[] = [1_000, 100_000, 1_000_000]): Promise<void> {
  console.log('\ntiles in memory (tlog/tiles): generate a log as tiles; a fresh tree proves leaf n/2 and the checkpoint at n/2');
  for (const n of sizes) {
    const half = Math.floor(n / 2);
    const entry = (i: number) => Buffer.from(`gantry bench entry ${i} ${'x'.repeat(48)}`);
    const t0 = process.hrtime.bigint();
    const log = await generateTiledLog(n, entry, [half]);
    const generateMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const runs: number[] = [];
    let reads = 0;
    for (let r = 0; r < 5; r++) {
      reads = 0;
      const counting: TileSource = {
        hashTile: (t) => {
          reads++;
          return log.source.hashTile(t);
        },
        bundle: (b) => {
          reads++;
          return log.source.bundle(b);
        },
      };
      const t1 = process.hrtime.bigint();
      const tree = new TiledTree(counting, n, log.root);
      const inclusion = await tree.inclusionProof(half);
      const consistency = await tree.consistencyProof(half);
      const oldRoot = await tree.rootAt(half);
      const leaf = await tree.leafHash(half);
      verifyInclusion(leaf, half, n, inclusion, log.root);
      verifyConsistency(half, n, consistency, oldRoot, log.root);
      runs.push(Number(process.hrtime.bigint() - t1) / 1e6);
      if (Buffer.compare(oldRoot, log.roots.get(half)!) !== 0)
        throw new Error(`bench: the tree's root at ${half} is not the generated one`);
    }
    console.log(
      `  ${`${n} entries`.padEnd(16)} generated in ${generateMs.toFixed(0).padStart(6)} ms (${log.writes.size} tiles)   proofs: ${reads} tile reads, ${median(runs).toFixed(1)} ms`,
    );
  }
}
