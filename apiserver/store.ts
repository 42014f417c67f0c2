/**
 * Object storage with one global resourceVersion, an event history for watch resumption, and
 * live fan-out to watchers. This is the seam between the API semantics (handlers.ts) and where
 * objects live: `Store` is the interface a different backend (etcd) would implement; the
 * in-memory `MemoryStore` here is what the emulator runs.
 *
 * Stored objects are treated as immutable: every write replaces the object, never mutates it,
 * so history entries and watch events can share references safely and writes stay O(1).
 */
import { errors } from './errors.js';
import type { KObject } from './types.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  /** group/plural */
  resource: string;
  rv: number;
  object: KObject;
  /** The object before this write (MODIFIED, DELETED), for selector transitions. */
  prev?: KObject;
}

export type StoreListener = (ev: StoreEvent) => void;

export interface Store {
  /** The newest resourceVersion issued. */
  currentRV(): number;
  /** Watches may resume from any RV ≥ this; older ones are answered 410 Expired. */
  compactedRV(): number;
  get(resource: string, namespace: string, name: string): KObject | undefined;
  /** Objects of one resource, in one namespace or all, sorted by namespace/name. */
  list(resource: string, namespace?: string): KObject[];
  count(resource: string): number;
  resources(): string[];
  /** Insert; fails with AlreadyExists. Assigns and returns the stored object with its RV. */
  create(resource: string, obj: KObject, plural: string, group: string): KObject;
  /** Replace; `expectedRV` (when set) must match the stored RV or the write is a Conflict. */
  update(resource: string, obj: KObject, plural: string, group: string, expectedRV?: string): KObject;
  /** Remove; returns the last state with the deletion's RV. */
  remove(resource: string, namespace: string, name: string, plural: string, group: string, expectedRV?: string): KObject;
  /** Live events with rv > fromRV: replays history first. Throws 410 when fromRV is compacted. */
  subscribe(resource: string, fromRV: number, listener: StoreListener): () => void;
  /** Every committed event, for persistence and controllers inside the emulator. */
  onCommit(listener: StoreListener): () => void;
}

/** Events kept for watch resumption by default (the apiserver keeps ≥75 s; this is far more). */
export const DEFAULT_HISTORY = 50_000;

function _key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export interface MemoryStoreSeed {
  rv: number;
  objects: { resource: string; object: KObject }[];
}

export class MemoryStore implements Store {
  private rv: number;
  private compacted: number;
  /** resource → namespace → name → object */
  private readonly data = new Map<string, Map<string, Map<string, KObject>>>();
  private readonly counts = new Map<string, number>();
  private history: StoreEvent[] = [];
  private historyStart = 0;
  private readonly watchers = new Map<string, Set<StoreListener>>();
  private readonly commitListeners = new Set<StoreListener>();

  constructor(
    seed?: MemoryStoreSeed,
    private readonly historyCapacity = DEFAULT_HISTORY,
  ) {
    this.rv = seed?.rv ?? 1000;
    // Everything before boot is unknown history: older watches must relist.
    this.compacted = this.rv;
    for (const { resource, object } of seed?.objects ?? []) this.put(resource, object);
  }

  currentRV(): number {
    return this.rv;
  }
  compactedRV(): number {
    return this.compacted;
  }

  private bucket(resource: string, namespace: string, create: boolean): Map<string, KObject> | undefined {
    let byNs = this.data.get(resource);
    if (!byNs) {
      if (!create) return undefined;
      byNs = new Map();
      this.data.set(resource, byNs);
    }
    let names = byNs.get(namespace);
    if (!names && create) {
      names = new Map();
      byNs.set(namespace, names);
    }
    return names;
  }

  private put(resource: string, obj: KObject): void {
    const b = this.bucket(resource, obj.metadata.namespace ?? '', true)!;
    if (!b.has(obj.metadata.name!)) this.counts.set(resource, (this.counts.get(resource) ?? 0) + 1);
    b.set(obj.metadata.name!, obj);
  }

  get(resource: string, namespace: string, name: string): KObject | undefined {
    return this.bucket(resource, namespace, false)?.get(name);
  }

  list(resource: string, namespace?: string): KObject[] {
    const byNs = this.data.get(resource);
    if (!byNs) return [];
    const out: KObject[] = [];
    const spaces = namespace !== undefined ? [namespace] : [...byNs.keys()].sort();
    for (const ns of spaces) {
      const names = byNs.get(ns);
      if (!names) continue;
      const sorted = [...names.keys()].sort();
      for (const n of sorted) out.push(names.get(n)!);
    }
    return out;
  }

  count(resource: string): number {
    return this.counts.get(resource) ?? 0;
  }

  resources(): string[] {
    return [...this.data.keys()];
  }

  private commit(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length - this.historyStart > this.historyCapacity) {
      // Drop the oldest half in one splice so eviction stays amortised O(1).
      const drop = this.history.length - this.historyStart - this.historyCapacity + Math.ceil(this.historyCapacity / 2);
      this.compacted = this.history[this.historyStart + drop - 1].rv;
      this.history = this.history.slice(this.historyStart + drop);
      this.historyStart = 0;
    }
    for (const l of this.watchers.get(ev.resource) ?? []) l(ev);
    for (const l of this.commitListeners) l(ev);
  }

  private stamp(obj: KObject): KObject {
    this.rv += 1;
    return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } };
  }

  create(resource: string, obj: KObject, plural: string, group: string): KObject {
    const ns = obj.metadata.namespace ?? '';
    if (this.get(resource, ns, obj.metadata.name!)) throw errors.alreadyExists(plural, group, obj.metadata.name!);
    const stored = this.stamp(obj);
    this.put(resource, stored);
    this.commit({ type: 'ADDED', resource, rv: this.rv, object: stored });
    return stored;
  }

  update(resource: string, obj: KObject, plural: string, group: string, expectedRV?: string): KObject {
    const ns = obj.metadata.namespace ?? '';
    const prev = this.get(resource, ns, obj.metadata.name!);
    if (!prev) throw errors.notFound(plural, group, obj.metadata.name!);
    if (expectedRV !== undefined && expectedRV !== prev.metadata.resourceVersion) throw errors.conflict(plural, group, obj.metadata.name!);
    const stored = this.stamp(obj);
    this.put(resource, stored);
    this.commit({ type: 'MODIFIED', resource, rv: this.rv, object: stored, prev });
    return stored;
  }

  remove(resource: string, namespace: string, name: string, plural: string, group: string, expectedRV?: string): KObject {
    const b = this.bucket(resource, namespace, false);
    const prev = b?.get(name);
    if (!b || !prev) throw errors.notFound(plural, group, name);
    if (expectedRV !== undefined && expectedRV !== prev.metadata.resourceVersion) throw errors.conflict(plural, group, name);
    b.delete(name);
    this.counts.set(resource, (this.counts.get(resource) ?? 1) - 1);
    const last = this.stamp(prev);
    this.commit({ type: 'DELETED', resource, rv: this.rv, object: last, prev });
    return last;
  }

  subscribe(resource: string, fromRV: number, listener: StoreListener): () => void {
    if (fromRV < this.compacted) throw errors.expired(String(fromRV), this.compacted + 1);
    // Replay history synchronously, then attach: no write can interleave in between.
    let lo = this.historyStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid].rv <= fromRV) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.history.length; i++) {
      const ev = this.history[i];
      if (ev.resource === resource) listener(ev);
    }
    let set = this.watchers.get(resource);
    if (!set) {
      set = new Set();
      this.watchers.set(resource, set);
    }
    set.add(listener);
    return () => {
      set!.delete(listener);
    };
  }

  onCommit(listener: StoreListener): () => void {
    this.commitListeners.add(listener);
    return () => {
      this.commitListeners.delete(listener);
    };
  }

  /** Snapshot for persistence: every object plus the RV. */
  snapshot(): MemoryStoreSeed {
    const objects: { resource: string; object: KObject }[] = [];
    for (const [resource, byNs] of this.data)
      for (const names of byNs.values()) for (const o of names.values()) objects.push({ resource, object: o });
    return { rv: this.rv, objects };
  }
}

const jsonCache = new WeakMap<KObject, string>();

/** The JSON text of a stored object, made once: as stored objects are never mutated, the
 *  journal line, the write's reply and every watcher of the event share one serialisation. */
export function storedJson(o: KObject): string {
  let s = jsonCache.get(o);
  if (s === undefined) {
    s = JSON.stringify(o);
    jsonCache.set(o, s);
  }
  return s;
}
