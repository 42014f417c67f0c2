/**
 * Which seals make a library descriptor acceptable to a host (agent/host/memfd-seal.ts): all of
 * F_SEAL_WRITE, F_SEAL_GROW and F_SEAL_SHRINK, whatever else is set; anything less, or no seals
 * at all (not a memfd), is refused with LIBRARY_NOT_SEALED naming what is missing. The
 * descriptors themselves are attacked in sealed-load.test.ts, with real host processes.
 */
import { describe, expect, it } from 'vitest';
import { HostError } from '../../agent/host/errors.js';
import { F_GET_SEALS, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, type Libc } from '../../agent/host/libc.js';
import { assertSealed, REQUIRED_SEALS, sealProblem } from '../../agent/host/memfd-seal.js';

const F_SEAL_FUTURE_WRITE = 0x10;
const ALL = ['F_SEAL_WRITE', 'F_SEAL_GROW', 'F_SEAL_SHRINK'];

/** The seal names a problem message lists as missing. */
const missingIn = (problem: string | undefined) => ALL.filter((n) => problem?.includes(n));

describe('sealProblem', () => {
  it('accepts write, grow and shrink sealed, with or without more seals', () => {
    expect(REQUIRED_SEALS).toBe(F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK);
    expect(sealProblem(F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)).toBeUndefined();
    expect(sealProblem(F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)).toBeUndefined();
    expect(sealProblem(F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL | F_SEAL_FUTURE_WRITE)).toBeUndefined();
  });

  it('refuses descriptors that are not sealable memory (F_GET_SEALS failed)', () => {
    expect(sealProblem(-1)).toMatch(/not sealable memory.*not a memfd/);
  });

  it('refuses an unsealed memfd, naming every missing seal', () => {
    const p = sealProblem(0);
    expect(missingIn(p)).toEqual(ALL);
    expect(p).toMatch(/^it lacks F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK: its bytes could still change$/);
  });

  it.each([
    ['F_SEAL_WRITE', F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL],
    ['F_SEAL_GROW', F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_SEAL],
    ['F_SEAL_SHRINK', F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SEAL],
  ])('refuses a memfd without %s, and names only that seal', (name, seals) => {
    expect(missingIn(sealProblem(seals))).toEqual([name]);
  });

  it('refuses F_SEAL_FUTURE_WRITE in place of F_SEAL_WRITE (a writable mapping made before it still writes)', () => {
    expect(missingIn(sealProblem(F_SEAL_FUTURE_WRITE | F_SEAL_GROW | F_SEAL_SHRINK))).toEqual(['F_SEAL_WRITE']);
  });

  it('refuses only seal sealed (the others can still be added later, but the bytes can change until then)', () => {
    expect(missingIn(sealProblem(F_SEAL_SEAL))).toEqual(ALL);
  });
});

describe('assertSealed', () => {
  const libcAnswering = (seals: number, asked: Array<[number, number]>): Libc =>
    ({
      fcntl: (fd: number, cmd: number) => {
        asked.push([fd, cmd]);
        return seals;
      },
    }) as unknown as Libc;

  it('asks the kernel for the seals of that descriptor, and passes sealed memory', () => {
    const asked: Array<[number, number]> = [];
    expect(() => assertSealed(libcAnswering(REQUIRED_SEALS | F_SEAL_SEAL, asked), 17)).not.toThrow();
    expect(asked).toEqual([[17, F_GET_SEALS]]);
  });

  it('throws LIBRARY_NOT_SEALED with the reason otherwise', () => {
    const err = (() => {
      try {
        assertSealed(libcAnswering(F_SEAL_GROW | F_SEAL_SHRINK, []), 9);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).code).toBe('LIBRARY_NOT_SEALED');
    expect((err as HostError).message).toMatch(/refused: it lacks F_SEAL_WRITE: its bytes could still change; it is not loaded$/);
  });
});
