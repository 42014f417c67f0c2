/**
 * The `state` event stream (GET /api/events, Server-Sent Events): every client gets the whole
 * state on connect and after each change, at most one per `minGapMs` (changes in between are
 * coalesced: the next send carries them all); a comment line every `heartbeatMs` keeps proxies
 * from closing an idle stream; a client that went away is dropped.
 */
import type { ServerResponse } from 'node:http';

export interface EventHubOptions {
  /** The state to send, serialised (built when sent, so it is the newest). */
  state: () => string;
  minGapMs?: number;
  heartbeatMs?: number;
  /** Streams open at once (default 64): each holds a socket and gets every state. */
  maxClients?: number;
}

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private lastSent = 0;
  private pending?: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly o: EventHubOptions) {
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), o.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Whether there is room for one more stream. */
  get full(): boolean {
    return this.clients.size >= (this.o.maxClients ?? 64);
  }

  add(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    const drop = () => this.clients.delete(res);
    res.on('close', drop);
    res.on('error', drop);
    res.write(frame(this.o.state()));
  }

  /** Something changed: send soon (now, or when the gap since the last send has passed). */
  changed(): void {
    if (this.pending) return;
    const wait = Math.max(0, this.lastSent + (this.o.minGapMs ?? 250) - Date.now());
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.lastSent = Date.now();
      if (this.clients.size) this.write(frame(this.o.state()));
    }, wait);
  }

  close(): void {
    clearInterval(this.heartbeat);
    if (this.pending) clearTimeout(this.pending);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private write(chunk: string): void {
    for (const c of this.clients) {
      if (c.destroyed || c.writableEnded) this.clients.delete(c);
      else c.write(chunk);
    }
  }
}

function frame(json: string): string {
  // JSON.stringify never emits a raw newline, so the data is one line
  return `event: state\ndata: ${json}\n\n`;
}
