/**
 * Shared material for the par tests: paths to the conformance data, fixed test keys, and a
 * raw tar builder for crafting hostile archives byte by byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';
import { generateSeed, tarHeader } from '../../par/index.js';

/** The repository's byte-for-byte copy of the wascap conformance data (see test/conformance/SOURCES.md). */
export const CONFORMANCE = join(packageRoot(), 'test', 'conformance', 'wascap');

export function conformance(path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(CONFORMANCE, path)));
}

export function conformanceJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(join(CONFORMANCE, path), 'utf8')) as T;
}

/** Upstream's own par test seeds (wash_par.rs): issuer account and subject service. */
export const UPSTREAM_ISSUER_SEED = 'SAACTTUPKR55VUWUDK7GJ5SU5KGED455FR7BDO46RUVOTHUWKBLECLH2UU';
export const UPSTREAM_SUBJECT_SEED = 'SVAOZUSBWWFL65P255DOHIETPTXUQMM5ETLSYPITI5G4K4HI6M2CDAPWAU';

export const issuerSeed = generateSeed('account');
export const subjectSeed = generateSeed('service');

export interface RawMember {
  name: string;
  data?: Uint8Array;
  /** tar type flag character; default regular file (NUL) */
  type?: string;
  linkname?: string;
  /** declared size, when it should lie about the data */
  declaredSize?: number;
}

/** A raw tar, with full control over type flags, link names and declared sizes. */
export function rawTar(members: RawMember[], opts: { endMarker?: boolean } = {}): Uint8Array {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = Buffer.from(m.data ?? new Uint8Array(0));
    const h = Buffer.from(tarHeader('x', 0));
    h.fill(0, 0, 100);
    Buffer.from(m.name, 'latin1').copy(h, 0, 0, Math.min(100, Buffer.byteLength(m.name, 'latin1')));
    h.write((m.declaredSize ?? data.length).toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    if (m.type) h.write(m.type, 156, 'latin1');
    if (m.linkname) h.write(m.linkname, 157, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(7, '0') + '\0', 148, 'latin1');
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (opts.endMarker !== false) parts.push(Buffer.alloc(1024));
  return new Uint8Array(Buffer.concat(parts));
}

/** Expects a promise to reject with a ParError of the given code; returns the error. */
export async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a refusal, but the call succeeded');
}
