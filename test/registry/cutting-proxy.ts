/**
 * A loopback TCP proxy in front of the registry that breaks one connection mid-upload, once:
 * either as the client starts its Nth PATCH (nothing of it reaches the registry), or after a
 * number of bytes have gone upstream (the registry sees a PATCH cut part-way through its body).
 * It can also answer the first connections with 503, as an overloaded registry does.
 */
import { createServer, connect, type Socket } from 'node:net';
import { freePort } from '../support/ports.js';

export interface CuttingProxy {
  host: string;
  /** bytes forwarded client → registry */
  bytesUp: number;
  cuts: number;
  stop(): Promise<void>;
}

export async function startCuttingProxy(
  upstreamPort: number,
  cut: { atPatch: number } | { afterBytes: number } | { unavailableFirst: number },
): Promise<CuttingProxy> {
  const state = { bytesUp: 0, cuts: 0, patches: 0 };
  const sockets = new Set<Socket>();
  let unavailable = 'unavailableFirst' in cut ? cut.unavailableFirst : 0;
  const server = createServer((client) => {
    if (unavailable > 0) {
      // answer as an overloaded registry would, without reaching it
      unavailable--;
      state.cuts++;
      client.once('data', () => client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      client.on('error', () => client.destroy());
      return;
    }
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (data: Buffer) => {
      if (state.cuts === 0) {
        if ('atPatch' in cut && data.subarray(0, 6).toString('latin1') === 'PATCH ' && ++state.patches === cut.atPatch) {
          state.cuts++;
          kill();
          return;
        }
        if ('afterBytes' in cut && state.bytesUp + data.length > cut.afterBytes) {
          const part = cut.afterBytes - state.bytesUp;
          state.bytesUp += part;
          state.cuts++;
          upstream.write(data.subarray(0, part), () => setTimeout(kill, 50));
          return;
        }
      }
      state.bytesUp += data.length;
      upstream.write(data);
    });
    // the registry's answer is piped, so when the registry closes its side the client still
    // gets every byte written before (destroying the client on the upstream's close truncated
    // a large GET, now and then, by whatever was still buffered)
    upstream.pipe(client);
    client.on('end', () => upstream.end());
    client.on('close', () => upstream.destroy());
    client.on('error', kill);
    upstream.on('error', kill);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${port}`,
    get bytesUp() {
      return state.bytesUp;
    },
    get cuts() {
      return state.cuts;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
