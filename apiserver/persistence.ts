/**
 * Persistence of the store to a state directory: a snapshot (`store.json`: every object plus
 * the resourceVersion) and a journal of writes since (`journal.ndjson`). Writes are appended
 * in batches every few milliseconds, never by re-serialising the whole store, so a 10k-object
 * burst stays cheap; the journal is folded into the snapshot on load and on stop. Both hold
 * Secret data, so both are created 0600 in a 0700 directory (statedir.ts).
 */
import { appendFile } from 'node:fs/promises';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FILE_MODE } from './statedir.js';
import { storedJson, type MemoryStore, type MemoryStoreSeed, type StoreEvent } from './store.js';
import type { KObject } from './types.js';
import { logger } from '../runtime/log.js';

const FLUSH_MS = 25;
const COMPACT_MIN_LINES = 50_000;
const log = logger('apiserver');

interface JournalLine {
  t: 'put' | 'del';
  r: string;
  rv: number;
  o?: KObject;
  ns?: string;
  n?: string;
}

export function loadState(dir: string): MemoryStoreSeed | undefined {
  const snap = join(dir, 'store.json');
  const journal = join(dir, 'journal.ndjson');
  if (!existsSync(snap) && !existsSync(journal)) return undefined;
  const objects = new Map<string, { resource: string; object: KObject }>();
  let rv = 1000;
  const k = (r: string, ns: string, n: string) => `${r}|${ns}|${n}`;
  if (existsSync(snap)) {
    const s = JSON.parse(readFileSync(snap, 'utf8')) as MemoryStoreSeed;
    rv = s.rv;
    for (const e of s.objects) objects.set(k(e.resource, e.object.metadata.namespace ?? '', e.object.metadata.name!), e);
  }
  if (existsSync(journal)) {
    for (const line of readFileSync(journal, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let j: JournalLine;
      try {
        j = JSON.parse(line) as JournalLine;
      } catch {
        break;
      } // a torn last line from a crash
      rv = Math.max(rv, j.rv);
      if (j.t === 'put' && j.o) objects.set(k(j.r, j.o.metadata.namespace ?? '', j.o.metadata.name!), { resource: j.r, object: j.o });
      else if (j.t === 'del') objects.delete(k(j.r, j.ns ?? '', j.n ?? ''));
    }
  }
  return { rv, objects: [...objects.values()] };
}

export class Persister {
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly journal: string;
  private linesSinceCompact = 0;
  private objectCount = 0;

  constructor(
    private readonly dir: string,
    private readonly store: MemoryStore,
    private readonly compactMinLines = COMPACT_MIN_LINES,
  ) {
    this.journal = join(dir, 'journal.ndjson');
  }

  /** Fold everything into a fresh snapshot and empty the journal. */
  compact(): void {
    const snap = this.store.snapshot();
    this.objectCount = snap.objects.length;
    const tmp = join(this.dir, 'store.json.tmp');
    // Secret data is in here: a fresh file, created 0600 (a leftover tmp would keep its mode).
    rmSync(tmp, { force: true });
    writeFileSync(tmp, JSON.stringify(snap), { mode: FILE_MODE });
    renameSync(tmp, join(this.dir, 'store.json'));
    writeFileSync(this.journal, '', { mode: FILE_MODE });
  }

  record(ev: StoreEvent): void {
    if (ev.type === 'DELETED') {
      const line: JournalLine = { t: 'del', r: ev.resource, rv: ev.rv, ns: ev.object.metadata.namespace ?? '', n: ev.object.metadata.name };
      this.buffer.push(JSON.stringify(line));
    } else {
      // The same text as JSON.stringify of a put line, reusing the object's shared serialisation.
      this.buffer.push(`{"t":"put","r":${JSON.stringify(ev.resource)},"rv":${ev.rv},"o":${storedJson(ev.object)}}`);
    }
    this.linesSinceCompact++;
    this.objectCount += ev.type === 'ADDED' ? 1 : ev.type === 'DELETED' ? -1 : 0;
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // The buffer is taken when this step runs, not now: steps run in order, so a line can never
    // land in the journal after a snapshot that already contains a newer state.
    this.writing = this.writing
      .then(() => {
        if (this.buffer.length === 0) return;
        const chunk = this.buffer.join('\n') + '\n';
        this.buffer = [];
        return appendFile(this.journal, chunk, { mode: FILE_MODE });
      })
      .catch((err: Error) => {
        log.error(
          { err: err.message, journal: this.journal },
          'could not append to the journal; state since the last snapshot may be lost on restart',
        );
      });
    // A long-running sandbox (lease heartbeats) would grow the journal forever: fold it into a
    // snapshot now and then, in one synchronous step with clearing the buffer.
    if (this.linesSinceCompact > Math.max(this.compactMinLines, 2 * this.objectCount)) {
      this.linesSinceCompact = 0;
      this.writing = this.writing.then(() => {
        this.buffer = [];
        this.compact();
      });
    }
    return this.writing;
  }

  async stop(): Promise<void> {
    await this.flush();
    this.compact();
  }
}
