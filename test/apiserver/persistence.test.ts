/**
 * The state directory: a snapshot plus a batched journal. Whatever mix of writes, journal
 * flushes and compactions happened, loading gives back the latest state of every object and
 * the newest resourceVersion — never an older version of an object.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState, Persister } from '../../apiserver/persistence.js';
import { MemoryStore } from '../../apiserver/store.js';
import type { KObject } from '../../apiserver/types.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const cm = (name: string, v: number): KObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data: { v: String(v) },
});

describe('persistence', () => {
  it('restores the latest state through journal flushes and compactions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-persist-'));
    dirs.push(dir);
    const store = new MemoryStore();
    const p = new Persister(dir, store, 40); // compact every few dozen lines
    p.compact();
    store.onCommit((ev) => p.record(ev));
    for (let i = 0; i < 10; i++) store.create('configmaps', cm(`c${i}`, 0), 'configmaps', '');
    for (let round = 1; round <= 30; round++) {
      for (let i = 0; i < 10; i++) store.update('configmaps', cm(`c${i}`, round), 'configmaps', '');
      if (round % 3 === 0) await p.flush();
      if (round % 7 === 0) await new Promise((r) => setTimeout(r, 30)); // let a timed flush run
    }
    store.remove('configmaps', 'default', 'c9', 'configmaps', '');
    await p.flush();
    // Simulate a crash: no stop(), so the journal (not only the snapshot) must be replayed.
    const seed = loadState(dir)!;
    expect(seed.rv).toBe(store.currentRV());
    const byName = new Map(seed.objects.map((o) => [o.object.metadata.name, o.object]));
    expect([...byName.keys()].sort()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']);
    for (const o of byName.values()) expect(o.data).toEqual({ v: '30' });
    expect(readFileSync(join(dir, 'journal.ndjson'), 'utf8').split('\n').length).toBeLessThan(200); // compacted along the way

    await p.stop();
    expect(readFileSync(join(dir, 'journal.ndjson'), 'utf8')).toBe('');
    const again = new MemoryStore(loadState(dir)!);
    expect(again.get('configmaps', 'default', 'c3')?.data).toEqual({ v: '30' });
    expect(again.compactedRV()).toBe(store.currentRV()); // older watches get 410
  });

  it('ignores a torn last journal line from a crash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-persist-'));
    dirs.push(dir);
    const store = new MemoryStore();
    const p = new Persister(dir, store);
    p.compact();
    store.create('configmaps', cm('a', 1), 'configmaps', '');
    const line = JSON.stringify({ t: 'put', r: 'configmaps', rv: store.currentRV(), o: store.get('configmaps', 'default', 'a') });
    writeFileSync(join(dir, 'journal.ndjson'), line + '\n' + line.slice(0, 20));
    const seed = loadState(dir)!;
    expect(seed.objects.map((o) => o.object.metadata.name)).toEqual(['a']);
    expect(existsSync(join(dir, 'store.json'))).toBe(true);
  });
});
