/**
 * Standard base64 (RFC 4648 §4, with padding) decoded strictly: Node's own decoder silently
 * skips characters outside the alphabet and accepts missing padding, which would let two
 * different texts name the same bytes. `canonical` also refuses non-zero unused bits in the
 * last character (C2SP checkpoints need one spelling per root hash).
 */
const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes, or null when `text` is not standard padded base64. */
export function decodeBase64(text: string, options: { canonical?: boolean } = {}): Uint8Array | null {
  if (!STD.test(text)) return null;
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (options.canonical && Buffer.from(bytes).toString('base64') !== text) return null;
  return bytes;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Lowercase or uppercase hex of even length → bytes; null otherwise. */
export function fromHex(text: string): Uint8Array | null {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) return null;
  return new Uint8Array(Buffer.from(text, 'hex'));
}
