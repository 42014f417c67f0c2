/**
 * The one way the library reads a container: a walk over its members that hands each one's
 * bytes to a sink in chunks, so a caller can hash while decompressing and never hold more than
 * it chooses to. Zip, plain tar and gzip'd tar all walk the same way; the checks every format
 * shares (names, duplicates, counts, sizes) live here, once.
 */
import { ParError } from './errors.js';
import { classifyEntry, type EntryKind } from './entries.js';
import { formatBytes, type ParLimits } from './limits.js';

export type ParFormat = 'zip' | 'tar' | 'tar.gz';

/** Receives one member's bytes. Chunks may share memory with the input archive. */
export interface EntrySink {
  write(chunk: Uint8Array): void;
  end(): void;
}

export interface EntryVisitor {
  /** Called once per member, before its bytes; return null to skip the bytes (when the format allows). */
  begin(entry: EntryKind & { name: string; size: number }): EntrySink | null;
}

/** Shared bookkeeping for all container readers. */
export class WalkGuard {
  private readonly seen = new Set<string>();
  private total = 0;

  constructor(readonly limits: ParLimits) {}

  /** Checks a member before reading it; returns its classification. */
  admit(name: string, declaredSize: number): EntryKind {
    const kind = classifyEntry(name);
    if (this.seen.has(name)) throw new ParError('PAR_BAD_ENTRY', `duplicate entry ${JSON.stringify(name)}`);
    this.seen.add(name);
    if (this.seen.size > this.limits.maxEntries) {
      throw new ParError('PAR_TOO_LARGE', `archive has more than ${this.limits.maxEntries} entries`);
    }
    if (declaredSize > this.limits.maxEntryBytes) {
      throw new ParError(
        'PAR_TOO_LARGE',
        `entry ${JSON.stringify(name)} is ${formatBytes(declaredSize)}, over the ${formatBytes(this.limits.maxEntryBytes)} per-entry limit`,
      );
    }
    if (kind.kind === 'claims' && declaredSize > this.limits.maxJwtBytes) {
      throw new ParError(
        'PAR_TOO_LARGE',
        `claims.jwt is ${formatBytes(declaredSize)}, over the ${formatBytes(this.limits.maxJwtBytes)} limit`,
      );
    }
    this.total += declaredSize;
    if (this.total > this.limits.maxTotalBytes) {
      throw new ParError('PAR_TOO_LARGE', `archive contents exceed the ${formatBytes(this.limits.maxTotalBytes)} total limit`);
    }
    return kind;
  }

  /** Checks the uncompressed ÷ compressed ratio of a stream or member. */
  checkRatio(what: string, uncompressed: number, compressed: number): void {
    if (uncompressed <= this.limits.ratioFloorBytes) return;
    if (uncompressed > Math.max(compressed, 1) * this.limits.maxCompressionRatio) {
      throw new ParError(
        'PAR_TOO_LARGE',
        `${what} expands more than ${this.limits.maxCompressionRatio}× (${formatBytes(compressed)} → over ${formatBytes(uncompressed)}); refusing a likely decompression bomb`,
      );
    }
  }
}

/** Detects the container by its first bytes; the error says what was found instead. */
export function detectFormat(bytes: Uint8Array): 'zip' | 'tar' | 'gzip' {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes.length >= 262 && Buffer.from(bytes.buffer, bytes.byteOffset + 257, 5).toString('latin1') === 'ustar') return 'tar';
  throw new ParError(
    'PAR_BAD_FORMAT',
    `not a provider archive: ${describeBytes(bytes)}; expected a zip (PK\\x03\\x04), a tar (ustar at offset 257) or a gzip'd tar (1f 8b)`,
  );
}

function describeBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'the file is empty';
  const head = Buffer.from(bytes.subarray(0, 8));
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x05 && bytes[3] === 0x06) return 'an empty zip (no entries)';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2 data';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz data';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd data';
  if (head.subarray(0, 4).toString('latin1') === '\x7fELF') return 'an ELF binary (not an archive)';
  if (head.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]))) return 'a WebAssembly module (not an archive)';
  const text = head.toString('latin1');
  if (text.startsWith('eyJ')) return 'a bare JWT (not an archive)';
  if (/^[\x20-\x7e\t\r\n]+$/.test(text)) return `text starting ${JSON.stringify(text)}`;
  return `${bytes.length} bytes starting ${head.toString('hex').replace(/(..)/g, '$1 ').trim()}`;
}

/** Walks any PAR container, detected by its bytes; returns which it was. */
export async function walkArchive(bytes: Uint8Array, guard: WalkGuard, visitor: EntryVisitor): Promise<ParFormat> {
  const kind = detectFormat(bytes);
  if (kind === 'zip') {
    const { walkZip } = await import('./zip.js');
    await walkZip(bytes, guard, visitor);
    return 'zip';
  }
  if (kind === 'gzip') {
    const { walkGzipTar } = await import('./gzip.js');
    await walkGzipTar(bytes, guard, visitor);
    return 'tar.gz';
  }
  const { walkTar } = await import('./tar.js');
  walkTar(bytes, guard, visitor);
  return 'tar';
}
