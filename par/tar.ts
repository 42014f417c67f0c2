/**
 * Tar, as wasmCloud's `provider-archive` crate writes it (Rust `tar` crate, GNU header): the
 * 512-byte header has name, size, an all-zero mtime, NUL mode/uid/gid, a 7-digit checksum,
 * type flag NUL and the GNU magic `"ustar  \0"`; members are padded to 512 bytes and two zero
 * blocks end the archive. Writing that exact layout keeps archives readable by wasmCloud tools.
 *
 * Reading is a push parser: it takes chunks as they come (whole buffer for plain tar,
 * decompressed slices for gzip) and hands member bytes to sinks as sub-arrays, never copying
 * or buffering a member itself. Links, directories, devices, pax and GNU long-name records
 * are refused; a member or header cut short is PAR_TRUNCATED.
 */
import { ParError } from './errors.js';
import type { EntrySink, EntryVisitor, WalkGuard } from './walk.js';

const BLOCK = 512;

export interface TarMember {
  name: string;
  data: Uint8Array;
}

function octal(value: number, digits: number): string {
  return value.toString(8).padStart(digits, '0');
}

/** The 512-byte header upstream writes for a regular file. */
export function tarHeader(name: string, size: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new ParError('PAR_BAD_ENTRY', `entry name ${JSON.stringify(name)} is longer than 100 bytes`);
  const h = Buffer.alloc(BLOCK);
  nameBytes.copy(h, 0);
  // mode, uid, gid stay NUL, as upstream leaves them
  h.write(octal(size, 11) + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1'); // mtime zero keeps archives reproducible
  h[156] = 0; // type flag: regular file, old style
  h.write('ustar  \0', 257, 'latin1'); // GNU magic + version
  h.fill(0x20, 148, 156); // checksum is computed over the header with its own field as spaces
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(octal(sum, 7) + '\0', 148, 'latin1');
  return h;
}

/** A complete tar of the given members, in order, with the two-block end marker. */
export function writeTar(members: TarMember[]): Uint8Array {
  let total = 2 * BLOCK;
  for (const m of members) total += BLOCK + Math.ceil(m.data.length / BLOCK) * BLOCK;
  const out = Buffer.alloc(total);
  let off = 0;
  for (const m of members) {
    tarHeader(m.name, m.data.length).copy(out, off);
    off += BLOCK;
    out.set(m.data, off);
    off += Math.ceil(m.data.length / BLOCK) * BLOCK;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function field(h: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && h[end] !== 0) end++;
  return Buffer.from(h.buffer, h.byteOffset + start, end - start).toString('latin1');
}

function parseNumber(h: Uint8Array, start: number, length: number, what: string, at: number): number {
  if (h[start] & 0x80) {
    // GNU base-256: big-endian binary in the remaining bits
    let v = BigInt(h[start] & 0x7f);
    for (let i = start + 1; i < start + length; i++) v = (v << 8n) | BigInt(h[i]);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParError('PAR_TOO_LARGE', `tar ${what} at offset ${at} is too large`);
    return Number(v);
  }
  const text = field(h, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new ParError('PAR_BAD_FORMAT', `tar header at offset ${at} has a malformed ${what} field`);
  return text === '' ? 0 : parseInt(text, 8);
}

function isZeroBlock(h: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a directory',
  '6': 'a FIFO',
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long-name record',
  K: 'a GNU long-link record',
};

type State = 'header' | 'data' | 'padding' | 'zero' | 'end';

export class TarParser {
  private state: State = 'header';
  private readonly partial = new Uint8Array(BLOCK);
  private partialLength = 0;
  private offset = 0; // archive offset of the next byte pushed
  private remaining = 0;
  private padding = 0;
  private sink: EntrySink | null = null;
  private name = '';
  private size = 0;

  constructor(
    private readonly guard: WalkGuard,
    private readonly visitor: EntryVisitor,
  ) {}

  get done(): boolean {
    return this.state === 'end';
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.state !== 'end') {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, chunk.length - i);
        this.sink?.write(chunk.subarray(i, i + n));
        i += n;
        this.offset += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endMember();
        continue;
      }
      if (this.state === 'padding') {
        const n = Math.min(this.padding, chunk.length - i);
        i += n;
        this.offset += n;
        this.padding -= n;
        if (this.padding === 0) this.state = 'header';
        continue;
      }
      // header or zero: a whole block is needed
      let block: Uint8Array;
      if (this.partialLength === 0 && chunk.length - i >= BLOCK) {
        block = chunk.subarray(i, i + BLOCK);
        i += BLOCK;
      } else {
        const n = Math.min(BLOCK - this.partialLength, chunk.length - i);
        this.partial.set(chunk.subarray(i, i + n), this.partialLength);
        this.partialLength += n;
        i += n;
        if (this.partialLength < BLOCK) continue;
        block = this.partial;
        this.partialLength = 0;
      }
      const at = this.offset;
      this.offset += BLOCK;
      this.onBlock(block, at);
    }
  }

  private onBlock(h: Uint8Array, at: number): void {
    if (this.state === 'zero') {
      if (!isZeroBlock(h)) throw new ParError('PAR_BAD_FORMAT', `tar has a zero block followed by data at offset ${at}`);
      this.state = 'end';
      return;
    }
    if (isZeroBlock(h)) {
      this.state = 'zero';
      return;
    }
    const stored = parseNumber(h, 148, 8, 'checksum', at);
    let unsigned = 0;
    let signed = 0;
    for (let j = 0; j < BLOCK; j++) {
      const b = j >= 148 && j < 156 ? 0x20 : h[j];
      unsigned += b;
      signed += b > 127 ? b - 256 : b;
    }
    if (stored !== unsigned && stored !== signed) {
      throw new ParError('PAR_BAD_FORMAT', `tar header at offset ${at} has a bad checksum (corrupt archive)`);
    }
    let name = field(h, 0, 100);
    const magic = field(h, 257, 6);
    if (magic === 'ustar') {
      // POSIX ustar: a prefix field may carry leading directories
      const prefix = field(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const type = String.fromCharCode(h[156]);
    if (h[156] !== 0 && type !== '0' && type !== '7') {
      const what = TYPE_NAMES[type] ?? `an entry of tar type ${JSON.stringify(type)}`;
      throw new ParError('PAR_BAD_ENTRY', `entry ${JSON.stringify(name)} is ${what}; a PAR holds only regular files`);
    }
    const size = parseNumber(h, 124, 12, 'size', at);
    const kind = this.guard.admit(name, size);
    this.name = name;
    this.size = size;
    this.sink = this.visitor.begin({ ...kind, name, size });
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.endMember();
    else this.state = 'data';
  }

  private endMember(): void {
    this.sink?.end();
    this.sink = null;
    this.state = this.padding > 0 ? 'padding' : 'header';
  }

  /** Called at end of input: anything short of the end marker is a truncated archive. */
  finish(): void {
    if (this.state === 'end') return;
    if (this.state === 'data') {
      throw new ParError(
        'PAR_TRUNCATED',
        `archive is truncated: entry ${JSON.stringify(this.name)} has ${this.size - this.remaining} of its ${this.size} bytes`,
      );
    }
    if (this.partialLength > 0)
      throw new ParError('PAR_TRUNCATED', `archive is truncated inside a tar header at offset ${this.offset - this.partialLength}`);
    throw new ParError('PAR_TRUNCATED', 'archive is truncated: it ends without the tar end-of-archive marker');
  }
}

/** Walks a plain tar held in memory: member bytes are handed out as views of `bytes`. */
export function walkTar(bytes: Uint8Array, guard: WalkGuard, visitor: EntryVisitor): void {
  const parser = new TarParser(guard, visitor);
  parser.push(bytes);
  parser.finish();
}
