/**
 * What a push owes tools Gantry did not write (registry/foreign-tools.ts), without a registry:
 * the layer title is a plain file name whatever the claims say (`oras pull` writes the layer
 * under it), and a zip is refused under wasmCloud's media types with the way to a tar.gz.
 */
import { describe, expect, it } from 'vitest';
import { checkReadableUnder } from '../../registry/foreign-tools.js';
import { ARCHIVE_MEDIA_TYPES, archiveTitle, RegistryError, slug } from '../../registry/index.js';

const title = (name: string | null, version?: string, format = 'tar', revision = 3): string =>
  archiveTitle({ name, version, revision }, format);

describe('archive layer titles', () => {
  it('are <name>-<version>.par for zip and tar, .par.gz for tar.gz', () => {
    expect(title('kv', '1.0.0', 'zip')).toBe('kv-1.0.0.par');
    expect(title('kv', '1.0.0', 'tar')).toBe('kv-1.0.0.par');
    expect(title('kv', '1.0.0', 'tar.gz')).toBe('kv-1.0.0.par.gz');
  });

  it('slug the name: lower case, spaces and other characters one dash, accents dropped', () => {
    expect(title('Gantry KV', '1.0.0', 'tar.gz')).toBe('gantry-kv-1.0.0.par.gz');
    expect(title('  Key   Value!! ', '2.1.0')).toBe('key-value-2.1.0.par');
    expect(title('Schlüssel Wert Café', '1.0.0')).toBe('schlussel-wert-cafe-1.0.0.par');
    expect(title('under_score.dot-dash', '1')).toBe('under_score.dot-dash-1.par');
  });

  it('fall back to "provider" for a name with nothing left, and to r<revision> without a version', () => {
    expect(title(null, '1.0.0')).toBe('provider-1.0.0.par');
    expect(title('', '1.0.0')).toBe('provider-1.0.0.par');
    expect(title('键值存储', '1.0.0')).toBe('provider-1.0.0.par');
    expect(title('...', '1.0.0')).toBe('provider-1.0.0.par');
    expect(title('.', undefined, 'tar.gz', 7)).toBe('provider-r7.par.gz');
    expect(title('kv', undefined, 'tar', 0)).toBe('kv-r0.par');
    expect(title('kv', '', 'zip', 12)).toBe('kv-r12.par');
    expect(title('kv', '///', 'zip', 12)).toBe('kv-r12.par');
  });

  it('attack: a name or version that is a path gives a plain file name, never a separator or a hidden file', () => {
    expect(title('../../etc/passwd', '1.0.0')).toBe('etc-passwd-1.0.0.par');
    expect(title('a/b', '1.0.0')).toBe('a-b-1.0.0.par');
    expect(title('..\\..\\windows\\system32', '1.0.0')).toBe('windows-system32-1.0.0.par');
    expect(title('.bashrc', '1.0.0')).toBe('bashrc-1.0.0.par');
    expect(title('kv', '../../../x')).toBe('kv-x.par');
    expect(title('C:\\kv', '1.0.0')).toBe('c-kv-1.0.0.par');
    expect(title('kv\u0000\n\r\t', '1.0.0')).toBe('kv-1.0.0.par');
    const hostile = ['../../etc/passwd', 'a/b', '/abs', '..', '.', '~/x', 'a\\b', ' ', '\u202e gnp.exe', 'x'.repeat(10_000)];
    for (const name of hostile) {
      for (const version of [undefined, '1.0.0', '../..', '/']) {
        const t = title(name, version, 'tar.gz');
        expect(t).toMatch(/^[a-z0-9][a-z0-9._-]*\.par\.gz$/);
        expect(t).not.toContain('..-');
        expect(t.length).toBeLessThanOrEqual(100 + 1 + 100 + '.par.gz'.length);
      }
    }
  });

  it('slug alone: collapsed dashes, trimmed ends, capped length', () => {
    expect(slug('--a---b--')).toBe('a-b');
    expect(slug('..a..')).toBe('a');
    expect(slug('A B')).toBe('a-b');
    expect(slug('a'.repeat(150))).toHaveLength(100);
    expect(slug(`${'a'.repeat(99)} b`)).toBe('a'.repeat(99));
  });
});

describe('containers wasmCloud reads', () => {
  it('attack: a zip under wasmCloud media types is FORMAT_NOT_READABLE, saying how to make a tar.gz', () => {
    let err: unknown;
    try {
      checkReadableUnder('wasmcloud', 'zip');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ code: 'FORMAT_NOT_READABLE' });
    expect((err as Error).message).toContain('read only tar and tar.gz');
    expect((err as Error).message).toContain('gantry par create --format tar.gz');
  });

  it('push offers exactly the two layouts a manifest is built in', () => {
    expect(ARCHIVE_MEDIA_TYPES).toEqual(['gantry', 'wasmcloud']);
  });

  it('tar and tar.gz under wasmCloud types, and every format under Gantry types, pass', () => {
    for (const format of ['tar', 'tar.gz']) expect(() => checkReadableUnder('wasmcloud', format)).not.toThrow();
    for (const format of ['zip', 'tar', 'tar.gz']) expect(() => checkReadableUnder('gantry', format)).not.toThrow();
  });
});
