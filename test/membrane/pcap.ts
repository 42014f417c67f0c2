/**
 * A capture of the loopback interface by the real `tcpdump` (issue 28's eavesdropping tests)
 * and the few lines that read its pcap file: Ethernet (loopback's link type) → IPv4 → TCP,
 * each direction's payload put back in sequence order. tcpdump rather than a raw socket:
 * Node has no raw sockets without a native addon, and libpcap sees every stream on the
 * interface — clients' and the servers' routes alike — exactly as an eavesdropper on the
 * node would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { requireBinary } from '../support/binaries.js';

export interface Capture {
  file: string;
  /** Stop capturing (SIGINT: tcpdump writes out what it holds) and read the streams. */
  stop(): Promise<TcpStream[]>;
}

/** One direction of one TCP connection: its bytes in order. */
export interface TcpStream {
  src: number;
  dst: number;
  /** The connection, the same for both directions: "lowPort-highPort". */
  conn: string;
  /** When its first segment was seen (µs), to order the two directions' first bytes. */
  firstAt: number;
  data: Buffer;
}

/**
 * Capture TCP on `lo` for these ports into `file`; resolves once tcpdump listens. Immediate
 * mode: without it libpcap hands packets over in blocks, and those of the last block are lost
 * when tcpdump is stopped.
 */
export async function captureLoopback(file: string, ports: number[]): Promise<Capture> {
  const tcpdump = requireBinary('tcpdump', 'tcpdump');
  const filter = ports.map((p) => `tcp port ${p}`).join(' or ');
  const proc: ChildProcess = spawn(tcpdump, ['-i', 'lo', '--immediate-mode', '-U', '-s', '0', '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      if (/listening on/.test(err)) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`tcpdump exited (${code}) before listening: ${err}`)));
  });
  return {
    file,
    async stop() {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await done;
      return tcpStreams(readFileSync(file));
    },
  };
}

/** The TCP payload streams of a pcap file of link type Ethernet (tcpdump -i lo). */
export function tcpStreams(pcap: Buffer): TcpStream[] {
  const magic = pcap.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`not a little-endian pcap file (magic ${magic.toString(16)})`);
  const nanos = magic === 0xa1b23c4d;
  const linkType = pcap.readUInt32LE(20);
  if (linkType !== 1) throw new Error(`pcap link type ${linkType}, expected Ethernet (1)`);
  const segments = new Map<string, { src: number; dst: number; firstAt: number; bySeq: Map<number, Buffer>; isn: number }>();
  for (let off = 24; off + 16 <= pcap.length; ) {
    const at = pcap.readUInt32LE(off) * 1e6 + pcap.readUInt32LE(off + 4) / (nanos ? 1000 : 1);
    const len = pcap.readUInt32LE(off + 8);
    const frame = pcap.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (frame.readUInt16BE(12) !== 0x0800) continue; // IPv4 only: the tests listen on 127.0.0.1
    const ip = frame.subarray(14);
    if (ip[9] !== 6) continue;
    const ipLen = (ip[0] & 0x0f) * 4;
    const tcp = ip.subarray(ipLen, ip.readUInt16BE(2));
    const payload = tcp.subarray((tcp[12] >> 4) * 4);
    if (payload.length === 0) continue;
    const src = tcp.readUInt16BE(0),
      dst = tcp.readUInt16BE(2);
    const key = `${src}>${dst}`;
    let s = segments.get(key);
    const seq = tcp.readUInt32BE(4);
    if (!s) segments.set(key, (s = { src, dst, firstAt: at, bySeq: new Map(), isn: seq }));
    s.bySeq.set((seq - s.isn) >>> 0, Buffer.from(payload)); // relative (wraps); a retransmission replaces its copy
  }
  return [...segments.values()].map((s) => ({
    src: s.src,
    dst: s.dst,
    conn: `${Math.min(s.src, s.dst)}-${Math.max(s.src, s.dst)}`,
    firstAt: s.firstAt,
    data: Buffer.concat([...s.bySeq.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1])),
  }));
}
