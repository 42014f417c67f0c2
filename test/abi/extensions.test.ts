/**
 * The ABI v1 extension mechanism (docs/abi.md#extensions): which fields of a provider table
 * the host reads. The parser on plain numbers (every boundary), then real libraries compiled
 * here by cc: a table of the header before extensions existed, tables announcing extensions
 * with each kind of bad ext_size or an unknown flag bit (each refused with its own code), one
 * whose ext_size stops short of `health` (health absent), one of the header before
 * handle_call_traced (ext_size covers health only: the pointer after it is never read, calls go
 * to handle_call), and one from a "newer" header with fields this host does not know (ignored),
 * all loaded by the host's own loader.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXT_OFFSET, extensionLayout, MAX_EXT_SIZE, WORD } from '../../agent/host/abi-extensions.js';
import { HostError } from '../../agent/host/errors.js';
import { NativeProvider } from '../../agent/host/native.js';
import { packageRoot } from '../../runtime/paths.js';
import { compileTable } from './table-fixture.js';
import { buildProviders, providerLib, text } from '../host/helpers.js';

const never = () => {
  throw new Error('ext_size must not be read without GANTRY_FLAG_EXTENSIONS');
};

function refusal(f: () => unknown): HostError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HostError);
    return e as HostError;
  }
  throw new Error('expected a refusal');
}

describe('extensionLayout', () => {
  it('flags 0: no extension block, and ext_size is never read (an old table ends at stop)', () => {
    expect(extensionLayout(0, never, 'lib.so')).toEqual({ extSize: 0, fields: {} });
  });

  it('reads health only when ext_size covers all of it', () => {
    expect(extensionLayout(1, () => 16, 'x')).toEqual({ extSize: 16, fields: { health: EXT_OFFSET + WORD } });
    expect(extensionLayout(1, () => 8, 'x')).toEqual({ extSize: 8, fields: {} });
    // a newer library: trailing fields this host does not know are ignored
    expect(extensionLayout(1, () => 64, 'x').fields).toEqual({ health: 80, handle_call_traced: 88 });
    expect(extensionLayout(1, () => BigInt(MAX_EXT_SIZE), 'x').extSize).toBe(MAX_EXT_SIZE);
  });

  it('reads handle_call_traced, the second field, right after health and only when ext_size covers it', () => {
    // the header of this issue: ext_size 24 = the size field, health, handle_call_traced
    expect(extensionLayout(1, () => 24, 'x')).toEqual({ extSize: 24, fields: { health: 80, handle_call_traced: 88 } });
    // the header before it (ext_size 16): only health, the next word is not the library's
    expect(extensionLayout(1, () => 16, 'x').fields).not.toHaveProperty('handle_call_traced');
    expect(extensionLayout(1, () => 16n, 'x').fields).toEqual({ health: 80 });
    expect(extensionLayout(0, never, 'x').fields).toEqual({});
  });

  it('unknown flag bits are refused with ABI_FLAGS_UNKNOWN, naming the bits', () => {
    for (const [flags, bits] of [
      [2, '2'],
      [3, '2'],
      [0x80000000, '80000000'],
      [0xffffffff, 'fffffffe'],
    ] as const) {
      const e = refusal(() => extensionLayout(flags, () => 16, 'lib.so'));
      expect(e.code).toBe('ABI_FLAGS_UNKNOWN');
      expect(e.message).toBe(
        `lib.so: provider table sets flag bits 0x${bits} this host does not know (it knows 0x1); they may change how the table is read, so it is refused`,
      );
    }
  });

  it.each([0, 4, 7, 12, 17, MAX_EXT_SIZE + WORD, 2 ** 40])('ext_size %d is refused with ABI_EXTENSIONS_INVALID', (size) => {
    const e = refusal(() => extensionLayout(1, () => size, 'lib.so'));
    expect(e.code).toBe('ABI_EXTENSIONS_INVALID');
    expect(e.message).toBe(
      `lib.so: provider table announces extensions with ext_size ${size}; it must be a multiple of 8 from 8 (the size field itself) to 4096 — build it with GANTRY_EXT_SIZE`,
    );
  });

  it('a 64-bit size_t too large for a number is refused, not wrapped', () => {
    const e = refusal(() => extensionLayout(1, () => 2n ** 64n - 8n, 'lib.so'));
    expect(e.code).toBe('ABI_EXTENSIONS_INVALID');
    expect(e.message).toMatch(/ext_size 18446744073709551608;/);
    expect(extensionLayout(1, () => 16n, 'x').fields).toEqual({ health: 80 });
  });
});

let dir: string;
function fixture(name: string, flags: string, extSize?: string): string {
  return compileTable(dir, name, { flags, extSize });
}

describe('libraries compiled by cc, loaded by the host', () => {
  beforeAll(() => {
    buildProviders();
    dir = mkdtempSync(join(tmpdir(), 'gantry-ext-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a table of the header before extensions (no ext_size at all, flags 0) loads and serves as before', () => {
    const p = NativeProvider.load(fixture('old', '0'));
    expect(p.capabilityId).toBe('test:ext');
    expect(p.hasHealth).toBe(false);
    expect(p.extensions).toEqual({ extSize: 0, fields: {} });
    expect(p.callSync('', 'Any', new Uint8Array(0)).status).toBe(0);
  });

  it('the example providers built before extensions (flags 0) still load, with neither extension, and serve', () => {
    for (const name of ['keyvalue', 'faulty']) {
      const p = NativeProvider.load(providerLib(name));
      expect(p.extensions).toEqual({ extSize: 0, fields: {} });
      expect([p.hasHealth, p.hasTracedCalls]).toEqual([false, false]);
    }
    const kv = NativeProvider.load(providerLib('keyvalue'));
    kv.configure({});
    const traced = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: '' };
    expect(text(kv.callSync('', 'Set', Buffer.from('{"key":"k","value":1}'), traced).body)).toBe('{"ok":true}');
  });

  it('echo (C) announces handle_call_traced and no health; its TraceContext answers what it was handed', () => {
    const p = NativeProvider.load(providerLib('echo'));
    expect(p.extensions).toEqual({ extSize: 24, fields: { health: 80, handle_call_traced: 88 } });
    expect([p.hasHealth, p.hasTracedCalls]).toEqual([false, true]);
    p.configure({});
    const tc = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v,q="\\' };
    expect(JSON.parse(text(p.callSync('', 'TraceContext', new Uint8Array(0), tc).body))).toEqual(tc);
    expect(text(p.callSync('', 'TraceContext', new Uint8Array(0)).body)).toBe('{"traceparent":"","tracestate":""}');
    expect(text(p.callSync('', 'Echo', Buffer.from('unchanged'), tc).body)).toBe('unchanged');
  });

  it('the SDKs set handle_call_traced in their tables (Rust, Go) beside health', () => {
    for (const name of ['keyvalue-rs', 'panicky-rs', 'echo-go', 'panicky-go']) {
      const p = NativeProvider.load(providerLib(name));
      expect(p.extensions, name).toEqual({ extSize: 24, fields: { health: 80, handle_call_traced: 88 } });
      expect([p.hasHealth, p.hasTracedCalls], name).toEqual([true, true]);
    }
  });

  it('a table of the header before handle_call_traced (ext_size covers health only) loads and serves through handle_call', () => {
    // the word after health holds a function here, as a newer field would: the host must not read it
    const p = NativeProvider.load(compileTable(dir, 'health-only', { flags: 1, extSize: 16, traced: true }));
    expect(p.extensions).toEqual({ extSize: 16, fields: { health: 80 } });
    expect([p.hasHealth, p.hasTracedCalls]).toEqual([true, false]);
    const r = p.callSync('', 'Any', new Uint8Array(0), {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: '',
    });
    expect(r).toEqual({ status: 0, body: new Uint8Array(0) }); // handle_call's empty reply, not "traced …"
  });

  it('a table with handle_call_traced gets every call through it; NULL in the field means handle_call', () => {
    const traced = NativeProvider.load(compileTable(dir, 'traced', { flags: 1, extSize: 24, traced: true }));
    expect(traced.hasTracedCalls).toBe(true);
    expect(text(traced.callSync('', 'Any', new Uint8Array(0)).body)).toBe('traced |');
    expect(text(traced.callSync('', 'Any', new Uint8Array(0), { traceparent: 'tp', tracestate: 'ts' }).body)).toBe('traced tp|ts');
    const nulled = NativeProvider.load(compileTable(dir, 'traced-null', { flags: 1, extSize: 24 }));
    expect(nulled.extensions.fields).toEqual({ health: 80, handle_call_traced: 88 });
    expect(nulled.hasTracedCalls).toBe(false);
    expect(nulled.callSync('', 'Any', new Uint8Array(0), { traceparent: 'tp', tracestate: 'ts' }).body).toEqual(new Uint8Array(0));
  });

  it('a table announcing extensions has health when its ext_size covers it; the provider answers through it', async () => {
    const p = NativeProvider.load(fixture('full', '1', '48'));
    // a newer header: three fields past handle_call_traced (NULL here) that this host ignores
    expect(p.extensions).toEqual({ extSize: 48, fields: { health: 80, handle_call_traced: 88 } });
    expect([p.hasHealth, p.hasTracedCalls]).toEqual([true, false]);
    expect(await p.health()).toEqual({ status: 1, message: 'sick' });
  });

  it('an ext_size that stops short of health: health counts as not implemented (it is not read)', () => {
    const p = NativeProvider.load(fixture('short', '1', '8'));
    expect(p.hasHealth).toBe(false);
  });

  it('the health example provider announces health (and handle_call_traced NULL)', async () => {
    const p = NativeProvider.load(providerLib('health'));
    expect(p.extensions).toEqual({ extSize: 24, fields: { health: 80, handle_call_traced: 88 } });
    expect(p.hasTracedCalls).toBe(false);
    p.configure({});
    expect(await p.health()).toEqual({ status: 0, message: '' });
  });

  it.each([
    ['too small', '1', '4', 'ABI_EXTENSIONS_INVALID', /ext_size 4; it must be a multiple of 8/],
    ['zero', '1', '0', 'ABI_EXTENSIONS_INVALID', /ext_size 0;/],
    ['not a multiple of the pointer size', '1', '20', 'ABI_EXTENSIONS_INVALID', /ext_size 20;/],
    ['garbage', '1', '(size_t)-1', 'ABI_EXTENSIONS_INVALID', /ext_size 18446744073709551615;/],
    ['an unknown flag bit', '3', '48', 'ABI_FLAGS_UNKNOWN', /sets flag bits 0x2 this host does not know/],
    ['an unknown flag bit without extensions', '0x100', '48', 'ABI_FLAGS_UNKNOWN', /sets flag bits 0x100/],
  ])('a table with %s is refused (%s %s) with its own code', (name, flags, size, code, message) => {
    const e = refusal(() => NativeProvider.load(fixture(name.replace(/ /g, '-'), flags, size)));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });
});

it('the header and the host agree on the layout (offsetof and GANTRY_EXT_SIZE, by the C compiler)', () => {
  const d = mkdtempSync(join(tmpdir(), 'gantry-ext-layout-'));
  try {
    writeFileSync(
      join(d, 'layout.c'),
      `#include <stdio.h>
#include "gantry_provider.h"
int main(void) { printf("%zu %zu %zu %zu %u %u", offsetof(gantry_provider, ext_size), offsetof(gantry_provider, health), offsetof(gantry_provider, handle_call_traced), GANTRY_EXT_SIZE, GANTRY_KNOWN_FLAGS, GANTRY_EXT_SIZE_MAX); return 0; }`,
    );
    execFileSync('cc', ['-I', join(packageRoot(), 'providers'), '-o', join(d, 'layout'), join(d, 'layout.c')]);
    expect(execFileSync(join(d, 'layout'), { encoding: 'utf8' })).toBe(
      `${EXT_OFFSET} ${EXT_OFFSET + WORD} ${EXT_OFFSET + 2 * WORD} 24 1 ${MAX_EXT_SIZE}`,
    );
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
