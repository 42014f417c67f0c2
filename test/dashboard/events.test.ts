/** The `state` event stream's hub (dashboard/events.ts): coalescing, heartbeats, dropping clients. */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHub } from '../../dashboard/events.js';

class FakeResponse extends EventEmitter {
  chunks: string[] = [];
  head?: [number, Record<string, string>];
  destroyed = false;
  writableEnded = false;
  writeHead(code: number, headers: Record<string, string>) {
    this.head = [code, headers];
    return this;
  }
  write(c: string) {
    this.chunks.push(c);
    return true;
  }
  end() {
    this.writableEnded = true;
  }
  states() {
    return this.chunks.filter((c) => c.startsWith('event: state\n'));
  }
}
const asRes = (f: FakeResponse) => f as unknown as ServerResponse;

let n = 0;
let hub: EventHub;
beforeEach(() => {
  vi.useFakeTimers();
  n = 0;
  hub = new EventHub({ state: () => JSON.stringify({ n: ++n }), minGapMs: 250, heartbeatMs: 15_000 });
});
afterEach(() => {
  hub.close();
  vi.useRealTimers();
});

describe('dashboard event hub', () => {
  it('sends the state on connect as an SSE `state` event on one data line', () => {
    const r = new FakeResponse();
    hub.add(asRes(r));
    expect(r.head).toEqual([200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' }]);
    expect(r.chunks[0]).toBe('retry: 2000\n\n');
    expect(r.states()).toEqual(['event: state\ndata: {"n":1}\n\n']);
  });

  it('coalesces a burst of changes into one event, and sends at most one per gap', () => {
    const r = new FakeResponse();
    hub.add(asRes(r));
    for (let i = 0; i < 100; i++) hub.changed();
    vi.advanceTimersByTime(0);
    expect(r.states()).toHaveLength(2); // the first change goes at once: nothing was sent within the gap
    for (let i = 0; i < 100; i++) hub.changed();
    vi.advanceTimersByTime(249);
    expect(r.states()).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(r.states()).toHaveLength(3);
    expect(r.states()[2]).toContain(`"n":${n}`); // built when sent: the newest state
    vi.advanceTimersByTime(10_000);
    expect(r.states()).toHaveLength(3); // no change, no event
  });

  it('sends a heartbeat comment to idle streams', () => {
    const r = new FakeResponse();
    hub.add(asRes(r));
    vi.advanceTimersByTime(15_000);
    expect(r.chunks.at(-1)).toBe(': heartbeat\n\n');
  });

  it('drops a client that went away, and stops writing to it', () => {
    const gone = new FakeResponse();
    const stays = new FakeResponse();
    hub.add(asRes(gone));
    hub.add(asRes(stays));
    expect(hub.size).toBe(2);
    gone.emit('close');
    expect(hub.size).toBe(1);
    const before = gone.chunks.length;
    hub.changed();
    vi.advanceTimersByTime(250);
    expect(gone.chunks.length).toBe(before);
    expect(stays.states()).toHaveLength(2);
    // one whose socket was destroyed without a close event yet is dropped on the next write
    stays.destroyed = true;
    vi.advanceTimersByTime(15_000);
    expect(hub.size).toBe(0);
  });

  it('is full at maxClients, and has room again when one goes', () => {
    const small = new EventHub({ state: () => '{}', maxClients: 2 });
    try {
      const a = new FakeResponse();
      small.add(asRes(a));
      expect(small.full).toBe(false);
      small.add(asRes(new FakeResponse()));
      expect(small.full).toBe(true);
      a.emit('close');
      expect(small.full).toBe(false);
    } finally {
      small.close();
    }
  });

  it('close ends every stream', () => {
    const r = new FakeResponse();
    hub.add(asRes(r));
    hub.close();
    expect(r.writableEnded).toBe(true);
    expect(hub.size).toBe(0);
  });
});
