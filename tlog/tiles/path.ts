/**
 * C2SP tile paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`. <N> is written in
 * zero-padded groups of three digits, every group but the last prefixed with "x"; <L> (0..63)
 * and <W> (1..255) are decimal without leading zeros. Parsing accepts only the one canonical
 * spelling of each tile, so a path names exactly one tile and a tile exactly one path.
 */
import { TlogError } from '../errors.js';
import { type BundleId, type HashTileId, TILE_WIDTH } from './types.js';

const MAX_LEVEL = 63;

function malformed(message: string): never {
  throw new TlogError('TLOG_TILE_MALFORMED', message);
}

function checkIndex(index: number, what: string): void {
  if (!Number.isSafeInteger(index) || index < 0) malformed(`${what} index ${index} is not a non-negative safe integer`);
}

function checkWidth(width: number, what: string): void {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) malformed(`${what} width ${width} is not in 1..${TILE_WIDTH}`);
}

/** 1234067 → x001/x234/067 */
function encodeIndex(index: number): string {
  let rest = index;
  let out = String(rest % 1000).padStart(3, '0');
  rest = Math.floor(rest / 1000);
  while (rest > 0) {
    out = `x${String(rest % 1000).padStart(3, '0')}/${out}`;
    rest = Math.floor(rest / 1000);
  }
  return out;
}

function suffix(width: number): string {
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** The C2SP path of a hash tile: `tile/<L>/<N>[.p/<W>]`. */
export function hashTilePath(t: HashTileId): string {
  if (!Number.isInteger(t.level) || t.level < 0 || t.level > MAX_LEVEL) malformed(`tile level ${t.level} is not in 0..${MAX_LEVEL}`);
  checkIndex(t.index, 'tile');
  checkWidth(t.width, 'tile');
  return `tile/${t.level}/${encodeIndex(t.index)}${suffix(t.width)}`;
}

/** The C2SP path of an entry bundle: `tile/entries/<N>[.p/<W>]`. */
export function bundlePath(b: BundleId): string {
  checkIndex(b.index, 'bundle');
  checkWidth(b.width, 'bundle');
  return `tile/entries/${encodeIndex(b.index)}${suffix(b.width)}`;
}

// functions, not constants: each call gets its own RegExp (no lastIndex shared), and mutation testing runs only the tests that reach them
const group = (s: string): boolean => /^x\d{3}$/.test(s);
const lastGroup = (s: string): boolean => /^\d{3}$/.test(s);
const decimal = (s: string): boolean => /^(0|[1-9]\d*)$/.test(s);

/** <N> from its groups, refusing "x000" leading groups (a second spelling of a smaller N). */
function parseIndex(groups: string[], path: string): number {
  let index = 0;
  for (const [i, g] of groups.entries()) {
    const last = i === groups.length - 1;
    if (!(last ? lastGroup : group)(g)) {
      malformed(
        `tile path ${JSON.stringify(path)}: index element ${JSON.stringify(g)} is not ${last ? 'three digits' : '"x" and three digits'}`,
      );
    }
    if (i === 0 && !last && g === 'x000') malformed(`tile path ${JSON.stringify(path)}: index has a leading zero group`);
    index = index * 1000 + Number(g.slice(last ? 0 : 1));
  }
  if (!Number.isSafeInteger(index)) malformed(`tile path ${JSON.stringify(path)}: index is too large`);
  return index;
}

/** Parses a C2SP tile path; anything else is TLOG_TILE_MALFORMED. */
export function parseTilePath(path: string): ({ kind: 'hash' } & HashTileId) | ({ kind: 'entries' } & BundleId) {
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile') malformed(`${JSON.stringify(path)} is not a tile path (tile/<L>/<N>[.p/<W>])`);
  let width = TILE_WIDTH;
  let groups = parts.slice(2);
  const last = groups[groups.length - 1];
  if (groups.length >= 2 && groups[groups.length - 2].endsWith('.p')) {
    if (!decimal(last)) malformed(`tile path ${JSON.stringify(path)}: partial width ${JSON.stringify(last)} is not a decimal number`);
    width = Number(last);
    if (width < 1 || width >= TILE_WIDTH)
      malformed(`tile path ${JSON.stringify(path)}: partial width ${width} is not in 1..${TILE_WIDTH - 1}`);
    groups = groups.slice(0, -1);
    groups[groups.length - 1] = groups[groups.length - 1].slice(0, -2);
  }
  const index = parseIndex(groups, path);
  if (parts[1] === 'entries') return { kind: 'entries', index, width };
  if (!decimal(parts[1]) || Number(parts[1]) > MAX_LEVEL) {
    malformed(`tile path ${JSON.stringify(path)}: level ${JSON.stringify(parts[1])} is not "entries" or a number in 0..${MAX_LEVEL}`);
  }
  return { kind: 'hash', level: Number(parts[1]), index, width };
}
