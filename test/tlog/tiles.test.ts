import { expect, it } from 'vitest';
import { consistencyProof, inclusionProof, leafHash, rootOf } from '../../tlog/merkle.js';
import { growTiles, memoryTileSource, TiledTree } from '../../tlog/tiles/index.js';

it('quick', async () => {
  const entries = Array.from({ length: 70000 }, (_, i) => new TextEncoder().encode(`e${i}`));
  const leaves = entries.map(leafHash);
  let writes: any[] = [];
  let size = 0;
  let root: Uint8Array = new Uint8Array(32);
  for (const step of [1, 255, 1, 300, 65000, 4443]) {
    const g = await growTiles(memoryTileSource(writes), size, entries.slice(size, size + step), size ? root : undefined);
    writes = [...writes, ...g.writes];
    size = g.size;
    root = g.root;
    expect(root).toEqual(rootOf(leaves, size));
    const tree = new TiledTree(memoryTileSource(writes), size, root);
    for (const i of [0, size - 1, Math.floor(size / 2)]) expect(await tree.inclusionProof(i)).toEqual(inclusionProof(leaves, i, size));
    for (const o of [1, size, Math.floor(size / 3) + 1]) expect(await tree.consistencyProof(o)).toEqual(consistencyProof(leaves, o, size));
    for (const o of [0, 1, size, 257]) if (o <= size) expect(await tree.rootAt(o)).toEqual(rootOf(leaves, o));
    expect(await tree.entries(Math.max(size - 3, 0), size)).toEqual(entries.slice(Math.max(0, size - 3), size));
  }
});
