import { describe, expect, it } from 'vitest';
import { collect, parseByteSize, parseDuration } from '../../cli/options.js';

describe('CLI option parsing', () => {
  it('reads durations in every unit the commands document, plain numbers as seconds', () => {
    expect(parseDuration('1500ms', '--x')).toBe(1500);
    expect(parseDuration('20', '--x')).toBe(20_000);
    expect(parseDuration('1.5s', '--x')).toBe(1500);
    expect(parseDuration('90m', '--x')).toBe(5_400_000);
    expect(parseDuration('30d', '--x')).toBe(30 * 86_400_000);
    expect(parseDuration('1y', '--x')).toBe(365 * 86_400_000);
  });

  it('refuses what is not a duration, and zero where a positive one is needed, naming the flag (exit 2)', () => {
    expect(() => parseDuration('soon', '--expires')).toThrow(/--expires "soon": expected a duration/);
    expect(() => parseDuration('0', '--expires', { positive: true })).toThrow(/--expires "0": expected a positive duration/);
    expect(parseDuration('0', '--grace')).toBe(0);
    let err: unknown;
    try {
      parseDuration('5x', '--x');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ exitCode: 2 });
  });

  it('collects repeated flags in order', () => {
    expect(['b', 'c'].reduce((acc, v) => collect(v, acc), ['a'])).toEqual(['a', 'b', 'c']);
  });

  it('reads byte sizes (--max-archive-bytes): plain bytes, SI and binary units', () => {
    expect(parseByteSize('268435456', '--max-archive-bytes')).toBe(268435456);
    expect(parseByteSize('256MiB', '--max-archive-bytes')).toBe(256 * 1024 * 1024);
    expect(parseByteSize('1Gi', '--max-archive-bytes')).toBe(1024 ** 3);
    expect(parseByteSize('100MB', '--max-archive-bytes')).toBe(100_000_000);
    expect(parseByteSize('4kib', '--max-archive-bytes')).toBe(4096);
    for (const bad of ['', '0', '-1', '12 parsecs', 'MiB', '1e9']) {
      expect(() => parseByteSize(bad, '--max-archive-bytes')).toThrow(/--max-archive-bytes .*expected a positive size/);
    }
  });
});
