/**
 * The keeper socket's framing (one JSON object per line) and the spec digest that decides
 * whether a running host can be adopted: the same instance uid with the same spec digest is the
 * same host, anything else is a new one.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { HostSpec } from '../host/spec.js';

/** Longest line either side accepts: a spec with a large config stays far below it. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** Calls `onMessage` with each parsed line; a line that is not JSON, or too long, ends the connection via `onBad`. */
export function readLines(socket: Socket, onMessage: (m: unknown) => void, onBad: (why: string) => void): void {
  let buffered = '';
  // Stryker disable next-line StringLiteral: Node reads '' as utf8 too
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim()) {
        let m: unknown;
        try {
          m = JSON.parse(line);
        } catch {
          return onBad(`not a JSON line: ${line.slice(0, 80)}`);
        }
        onMessage(m);
      }
      nl = buffered.indexOf('\n');
    }
    if (buffered.length > MAX_LINE_BYTES) onBad(`a line longer than ${MAX_LINE_BYTES} bytes`);
  });
}

export function writeLine(socket: Socket, m: unknown): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(m)}\n`);
}

/** SHA-256 (hex) over the spec's JSON with every object's keys sorted: two agents that derive the same spec get the same digest. */
export function specDigest(spec: HostSpec): string {
  return createHash('sha256').update(canonical(spec)).digest('hex');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    // any fixed order of the (unique) keys is canonical: only one keeper ever compares its digests
    // (a restarted keeper reaps its predecessor's hosts); and after a value the next key's quote
    // delimits it, so the comma between members carries nothing either
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      // Stryker disable next-line EqualityOperator,ConditionalExpression
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Stryker disable next-line StringLiteral
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
