/**
 * A loopback TCP proxy in front of a real registry that passes every answer on slowly: the
 * registry API is answered correctly (by distribution itself), only the pace is the
 * attacker's. `trickle` paces the answers (registry → client) from their first byte (so the
 * head trickles) or from the end of the first head on a connection (so the body does);
 * `throttleUp` reads what the client sends at a pace (an upload into a slow sink).
 * The pace can be changed while it runs (`setPace`).
 */
import { connect, createServer, type Socket } from 'node:net';
import { freePort } from '../support/ports.js';

export interface Pace {
  /** bytes passed on per tick */
  bytes: number;
  tickMs: number;
  /** trickle from the first byte ('head') or after the first head on a connection ('body') */
  from: 'head' | 'body';
}

export interface TricklingProxy {
  host: string;
  /** bytes passed on registry → client so far */
  readonly bytesDown: number;
  setPace(down: Pace | undefined, upBytesPerSecond?: number): void;
  stop(): Promise<void>;
}

export async function startTricklingProxy(upstreamPort: number, down?: Pace, upBytesPerSecond?: number): Promise<TricklingProxy> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let pace = down;
  let up = upBytesPerSecond;
  let bytesDown = 0;
  const server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    let upstreamClosed = false;
    upstream.on('close', () => {
      upstreamClosed = true;
    });
    // client → registry: as fast as it comes, or read in 1/10 s doses of the allowed rate
    if (up === undefined) client.pipe(upstream);
    else {
      const perTick = Math.max(1, Math.floor(up / 10));
      client.pause();
      const tick = setInterval(() => {
        const chunk = client.read(Math.min(perTick, client.readableLength || perTick)) as Buffer | null;
        if (chunk) upstream.write(chunk);
      }, 100);
      timers.add(tick);
      client.on('close', () => clearInterval(tick));
    }
    // registry → client: queued, then passed on at the pace
    let queue = Buffer.alloc(0);
    let headSeen = false;
    const flush = (n: number) => {
      const part = queue.subarray(0, n);
      queue = queue.subarray(n);
      bytesDown += part.length;
      if (part.length) client.write(part);
    };
    upstream.on('data', (d: Buffer) => {
      queue = Buffer.concat([queue, d]);
      const p = pace;
      if (!p) return flush(queue.length);
      if (p.from === 'body' && !headSeen) {
        const end = queue.indexOf('\r\n\r\n');
        if (end >= 0) {
          headSeen = true;
          flush(end + 4);
        }
      }
    });
    const tick = setInterval(() => {
      const p = pace;
      if (!p) flush(queue.length);
      else if (p.from === 'head' || headSeen) flush(p.bytes);
      // what the registry sent before it closed still goes out, at the pace
      if (upstreamClosed && queue.length === 0) {
        clearInterval(tick);
        client.end();
      }
    }, pace?.tickMs ?? 10);
    timers.add(tick);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${port}`,
    get bytesDown() {
      return bytesDown;
    },
    setPace(d, u) {
      pace = d;
      up = u;
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
