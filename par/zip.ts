/**
 * ZIP, the container the Provider Archive design document describes.
 *
 * Writing goes through `jszip`: claims.jwt is deflated, binaries are stored by default (like
 * wasmCloud's uncompressed tar: the agent then hashes them straight out of the downloaded
 * bytes), or deflated on request.
 *
 * Reading is our own central-directory walk rather than jszip's loader, because a verifier
 * must see what jszip hides: it silently keeps the last of two members with the same name, and
 * it inflates in JavaScript with no cap. Here every central-directory record is checked (name,
 * duplicates, links, encryption, declared sizes and ratio) before a byte is inflated; members
 * are inflated natively by zlib in slices and stopped the moment they pass their declared size.
 */
import JSZip from 'jszip';
import { createInflateRaw } from 'node:zlib';
import { ParError } from './errors.js';
import { classifyEntry, CLAIMS_ENTRY } from './entries.js';
import { formatBytes } from './limits.js';
import type { EntryVisitor, WalkGuard } from './walk.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const EOCD_MIN = 22;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export interface ZipMember {
  name: string;
  data: Uint8Array;
  compress: boolean;
}

// A fixed timestamp keeps the same inputs producing the same archive bytes.
const FIXED_DATE = new Date(Date.UTC(1980, 0, 1, 0, 0, 0));

export async function writeZip(members: ZipMember[]): Promise<Uint8Array> {
  const zip = new JSZip();
  for (const m of members) {
    zip.file(m.name, m.data, {
      binary: true,
      date: FIXED_DATE,
      unixPermissions: 0o100644,
      compression: m.compress ? 'DEFLATE' : 'STORE',
    });
  }
  return zip.generateAsync({ type: 'uint8array', platform: 'UNIX', compressionOptions: { level: 6 } });
}

interface CentralRecord {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function findEocd(view: DataView, length: number): number {
  const stop = Math.max(0, length - EOCD_MIN - 0xffff);
  for (let i = length - EOCD_MIN; i >= stop; i--) {
    if (view.getUint32(i, true) === SIG_EOCD) return i;
  }
  return -1;
}

function readCentralDirectory(bytes: Uint8Array, guard: WalkGuard): CentralRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length >= EOCD_MIN ? findEocd(view, bytes.length) : -1;
  if (eocd < 0) {
    throw new ParError('PAR_TRUNCATED', 'zip archive is truncated: no end-of-central-directory record (incomplete download?)');
  }
  const disk = view.getUint16(eocd + 4, true);
  const cdDisk = view.getUint16(eocd + 6, true);
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (disk !== 0 || cdDisk !== 0) throw new ParError('PAR_BAD_FORMAT', 'multi-disk zip archives are not supported');
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    throw new ParError('PAR_TOO_LARGE', 'zip64 archive: members over 4 GiB are beyond any PAR limit');
  }
  if (count > guard.limits.maxEntries) {
    throw new ParError('PAR_TOO_LARGE', `archive declares ${count} entries, more than the ${guard.limits.maxEntries} allowed`);
  }
  if (cdOffset + cdSize > eocd) throw new ParError('PAR_TRUNCATED', 'zip central directory lies outside the file (truncated or corrupt)');

  const records: CentralRecord[] = [];
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new ParError('PAR_BAD_FORMAT', `zip central directory is corrupt at entry ${n + 1} of ${count}`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const compressedSize = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const madeBy = view.getUint16(p + 4, true) >> 8;
    const external = view.getUint32(p + 38, true);
    const localOffset = view.getUint32(p + 42, true);
    if (p + 46 + nameLength > eocd) throw new ParError('PAR_BAD_FORMAT', 'zip central directory entry name runs past its end');
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + p + 46, nameLength).toString(flags & 0x800 ? 'utf8' : 'latin1');
    p += 46 + nameLength + extraLength + commentLength;

    const shown = JSON.stringify(name);
    const mode = madeBy === 3 /* Unix */ ? external >>> 16 : 0;
    if ((mode & S_IFMT) === S_IFLNK)
      throw new ParError('PAR_BAD_ENTRY', `entry ${shown} is a symbolic link; a PAR holds only regular files`);
    if ((mode & S_IFMT) === S_IFDIR || name.endsWith('/') || (external & 0x10) !== 0) {
      throw new ParError('PAR_BAD_ENTRY', `entry ${shown} is a directory; a PAR holds only regular files`);
    }
    if ((mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFREG) {
      throw new ParError('PAR_BAD_ENTRY', `entry ${shown} is not a regular file (mode ${mode.toString(8)})`);
    }
    if (flags & 0x1) throw new ParError('PAR_BAD_ENTRY', `entry ${shown} is encrypted`);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) {
      throw new ParError('PAR_TOO_LARGE', `entry ${shown} uses zip64 sizes, beyond any PAR limit`);
    }
    if (method !== 0 && method !== 8) {
      throw new ParError(
        'PAR_BAD_FORMAT',
        `entry ${shown} uses zip compression method ${method}; only stored (0) and deflate (8) are read`,
      );
    }
    if (method === 0 && compressedSize !== size) {
      throw new ParError('PAR_BAD_FORMAT', `stored entry ${shown} declares ${compressedSize} compressed but ${size} uncompressed bytes`);
    }
    guard.admit(name, size);
    if (method === 8) guard.checkRatio(`entry ${shown}`, size, compressedSize);
    records.push({ name, method, compressedSize, size, localOffset });
  }
  return records;
}

/** Where a member's compressed bytes start, checked against its local header. */
function dataRange(bytes: Uint8Array, view: DataView, r: CentralRecord, limit: number): [number, number] {
  const at = r.localOffset;
  if (at + 30 > limit || view.getUint32(at, true) !== SIG_LOCAL) {
    throw new ParError('PAR_BAD_FORMAT', `entry ${JSON.stringify(r.name)}: no local header at offset ${at} (corrupt archive)`);
  }
  const nameLength = view.getUint16(at + 26, true);
  const extraLength = view.getUint16(at + 28, true);
  const localName = Buffer.from(bytes.buffer, bytes.byteOffset + at + 30, Math.min(nameLength, Math.max(0, limit - at - 30))).toString(
    'latin1',
  );
  if (localName !== Buffer.from(r.name, 'utf8').toString('latin1')) {
    throw new ParError(
      'PAR_BAD_ENTRY',
      `entry ${JSON.stringify(r.name)} has a different name (${JSON.stringify(localName)}) in its local header`,
    );
  }
  const start = at + 30 + nameLength + extraLength;
  const end = start + r.compressedSize;
  if (end > limit) {
    throw new ParError('PAR_TRUNCATED', `archive is truncated: entry ${JSON.stringify(r.name)} runs past the end of its data`);
  }
  return [start, end];
}

async function inflateInto(compressed: Uint8Array, declared: number, name: string, write: (chunk: Uint8Array) => void): Promise<void> {
  const inflater = createInflateRaw({ chunkSize: 256 * 1024 });
  let produced = 0;
  inflater.end(compressed);
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) {
      produced += chunk.length;
      if (produced > declared) {
        throw new ParError(
          'PAR_TOO_LARGE',
          `entry ${JSON.stringify(name)} inflates beyond its declared ${formatBytes(declared)}; refusing`,
        );
      }
      write(chunk);
    }
  } catch (err) {
    if (err instanceof ParError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message)) {
      throw new ParError('PAR_TRUNCATED', `entry ${JSON.stringify(name)} is truncated: its deflate stream ends early`, { cause: err });
    }
    throw new ParError('PAR_BAD_FORMAT', `entry ${JSON.stringify(name)} is corrupt: ${e.message}`, { cause: err });
  } finally {
    inflater.destroy();
  }
  if (produced !== declared) {
    throw new ParError('PAR_BAD_FORMAT', `entry ${JSON.stringify(name)} inflates to ${produced} bytes but declares ${declared}`);
  }
}

export async function walkZip(bytes: Uint8Array, guard: WalkGuard, visitor: EntryVisitor): Promise<void> {
  const records = readCentralDirectory(bytes, guard);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cdOffset = view.getUint32(findEocd(view, bytes.length) + 16, true);

  // Members must not overlap: overlapping members are how "flat" zip bombs multiply output.
  const ranges = records.map((r) => ({ r, range: dataRange(bytes, view, r, cdOffset) }));
  const sorted = [...ranges].sort((a, b) => a.r.localOffset - b.r.localOffset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].r.localOffset < sorted[i - 1].range[1]) {
      throw new ParError(
        'PAR_BAD_FORMAT',
        `entries ${JSON.stringify(sorted[i - 1].r.name)} and ${JSON.stringify(sorted[i].r.name)} overlap`,
      );
    }
  }

  // the claims first, whatever the member order: a verifier checks the signature before it
  // spends anything on binaries
  const claimsFirst = [...ranges.filter((x) => x.r.name === CLAIMS_ENTRY), ...ranges.filter((x) => x.r.name !== CLAIMS_ENTRY)];
  for (const { r, range } of claimsFirst) {
    const { name, size } = r;
    const kind = classifyEntry(name); // already admitted while reading the central directory
    const sink = visitor.begin({ ...kind, name, size });
    if (!sink) continue;
    const data = bytes.subarray(range[0], range[1]);
    if (r.method === 0) {
      if (data.length > 0) sink.write(data);
    } else {
      await inflateInto(data, size, name, (c) => sink.write(c));
    }
    sink.end();
  }
}
