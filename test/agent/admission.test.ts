/**
 * The agent's admission under its instance cap (agent/admission.ts): which waiting instance
 * takes a free place (oldest first, the same answer in any order of asking), that running ones
 * keep theirs, what a refused one is told, and the default cap from the node's memory.
 */
import { describe, expect, it } from 'vitest';
import {
  defaultMaxInstances,
  HOST_MEMORY_BYTES,
  MIN_DEFAULT_MAX_INSTANCES,
  nodeMemoryBytes,
  refusal,
  type Waiting,
} from '../../agent/admission.js';

const w = (key: string, createdAt: string): Waiting => ({ key, createdAt });
const a = w('apps/a', '2026-01-01T00:00:01Z');
const b = w('apps/b', '2026-01-01T00:00:02Z');
const c = w('apps/c', '2026-01-01T00:00:03Z');
const GiB = 1024 ** 3;

describe('refusal', () => {
  it('admits everything while there are places', () => {
    for (const x of [a, b, c]) expect(refusal(x.key, { max: 3, running: 0, waiting: [c, a, b] })).toBeUndefined();
  });

  it('gives the free places to the oldest waiting instances, whatever order they are asked in', () => {
    const waiting = [c, b, a];
    expect(refusal(a.key, { max: 2, running: 0, waiting })).toBeUndefined();
    expect(refusal(b.key, { max: 2, running: 0, waiting })).toBeUndefined();
    expect(refusal(c.key, { max: 2, running: 0, waiting })).toMatch(/number 1 in line/);
    // one place left (one runs): only the oldest waiting one gets it
    expect(refusal(b.key, { max: 2, running: 1, waiting: [c, b] })).toBeUndefined();
    expect(refusal(c.key, { max: 2, running: 1, waiting: [c, b] })).toMatch(/number 1 in line/);
  });

  it('breaks a tie in creation time by namespace/name', () => {
    const x = w('apps/x', a.createdAt);
    const y = w('apps/y', a.createdAt);
    expect(refusal(x.key, { max: 1, running: 0, waiting: [y, x] })).toBeUndefined();
    expect(refusal(y.key, { max: 1, running: 0, waiting: [y, x] })).toBeDefined();
  });

  it('never makes room by evicting: an older instance waits when the running ones fill the cap', () => {
    const older = w('apps/older', '2025-01-01T00:00:00Z');
    expect(refusal(older.key, { max: 2, running: 2, waiting: [older] })).toBe(
      "instance limit reached: this node's agent runs at most 2 instances (--max-instances 2) and 2 are taken by running or " +
        'older instances; this one is number 1 in line (oldest first) and starts when one stops',
    );
  });

  it('counts the line from the places left, also when the cap was lowered below what runs', () => {
    expect(refusal(c.key, { max: 2, running: 1, waiting: [a, b, c] })).toMatch(/and 2 are taken .*; this one is number 2 in line/);
    expect(refusal(a.key, { max: 2, running: 3, waiting: [a, b] })).toMatch(
      /at most 2 instances .* and 3 are taken .*; this one is number 1 in line/,
    );
    expect(refusal(b.key, { max: 2, running: 3, waiting: [a, b] })).toMatch(/number 2 in line/);
  });

  it('refuses a key it is not given as waiting (nothing is admitted by mistake)', () => {
    expect(refusal('apps/ghost', { max: 5, running: 0, waiting: [a] })).toMatch(/number 2 in line/);
  });
});

describe('defaultMaxInstances', () => {
  it('is half the memory at 64 MiB per host', () => {
    expect(HOST_MEMORY_BYTES).toBe(64 * 1024 * 1024);
    expect(defaultMaxInstances(16 * GiB)).toBe(128);
    expect(defaultMaxInstances(4 * GiB + HOST_MEMORY_BYTES)).toBe(32);
    expect(defaultMaxInstances(4 * GiB + 2 * HOST_MEMORY_BYTES)).toBe(33);
  });

  it('is at least 8 on a small node', () => {
    expect(MIN_DEFAULT_MAX_INSTANCES).toBe(8);
    expect(defaultMaxInstances(512 * 1024 * 1024)).toBe(8);
    expect(defaultMaxInstances(0)).toBe(8);
    expect(defaultMaxInstances(1 * GiB + 2 * HOST_MEMORY_BYTES)).toBe(9);
  });

  it("reads this node's memory: a cgroup limit below the machine's wins; no limit (0 or huge) leaves the machine's", () => {
    expect(nodeMemoryBytes()).toBeGreaterThan(0);
    expect(nodeMemoryBytes(2 * GiB, 16 * GiB)).toBe(2 * GiB);
    expect(nodeMemoryBytes(0, 16 * GiB)).toBe(16 * GiB);
    expect(nodeMemoryBytes(2 ** 62, 16 * GiB)).toBe(16 * GiB);
    expect(nodeMemoryBytes(1, 16 * GiB)).toBe(1);
  });
});
