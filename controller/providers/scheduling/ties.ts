/**
 * Ties between equally scored nodes are broken per Provider (its ns/name). Several Providers
 * reconciled at once all see the same load; breaking ties by node name alone would stack them
 * all on the first node, while a per-Provider order spreads them without coordination.
 */

/** FNV-1a (32 bit): a cheap, stable per-(Provider, node) order for ties. */
export function tieRank(seed: string, node: string): number {
  let h = 0x811c9dc5;
  const s = seed + '\u0000' + node;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
