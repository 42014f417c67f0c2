/**
 * The leaf of a repository's log: one entry per published revision, in a canonical text
 * encoding so that anyone can recompute the leaf hash from what the registry serves.
 *
 *   gantry-log-entry/v1\n
 *   revision <decimal, no sign, no leading zeros>\n
 *   digest sha256:<64 lowercase hex>\n        the archive's OCI manifest digest (what rev-N names)
 *   issuer <account nkey, A…>\n
 *   subject <service nkey, V…>\n
 *   capid <capability id, may be empty>\n
 *   version <claims version, may be empty>\n
 *
 * Exactly these seven lines, in this order, each `key SP value LF` (one space even when the
 * value is empty), UTF-8, no control characters, no trailing data. The leaf hash is
 * SHA-256(0x00 ‖ these bytes) (RFC 6962). Parsing refuses anything that does not re-encode to
 * the same bytes (TLOG_ENTRY_MALFORMED), so one revision has exactly one leaf.
 */
import { TlogError } from './errors.js';
import { leafHash } from './merkle.js';

export const ENTRY_FORMAT = 'gantry-log-entry/v1';

export interface LogEntry {
  revision: number;
  /** OCI manifest digest of the archive, sha256:<hex> */
  digest: string;
  /** claims `iss`: the account key that signed the archive */
  issuer: string;
  /** claims `sub`: the provider's service key */
  subject: string;
  /** claims capid ('' when absent) */
  capid: string;
  /** claims version ('' when absent) */
  version: string;
}

const FIELDS = ['revision', 'digest', 'issuer', 'subject', 'capid', 'version'] as const;

function malformed(reason: string): never {
  throw new TlogError('TLOG_ENTRY_MALFORMED', `not a ${ENTRY_FORMAT} log entry: ${reason}`);
}

function checkEntry(e: LogEntry): void {
  if (!Number.isSafeInteger(e.revision) || e.revision < 0) malformed(`revision ${e.revision} is not a non-negative integer`);
  if (!/^sha256:[0-9a-f]{64}$/.test(e.digest)) malformed(`digest ${JSON.stringify(e.digest)} is not sha256:<64 lowercase hex>`);
  if (!/^A[A-Z2-7]{55}$/.test(e.issuer)) malformed(`issuer ${JSON.stringify(e.issuer)} is not an account key (A…)`);
  if (!/^V[A-Z2-7]{55}$/.test(e.subject)) malformed(`subject ${JSON.stringify(e.subject)} is not a service key (V…)`);
  for (const f of ['capid', 'version'] as const) {
    if (typeof e[f] !== 'string' || /[\u0000-\u001f\u007f]/.test(e[f])) malformed(`${f} has a control character or newline`);
    // Stryker disable next-line StringLiteral: Buffer's default encoding is UTF-8
    if (Buffer.from(e[f], 'utf8').toString('utf8') !== e[f]) malformed(`${f} is not valid UTF-8`);
  }
}

/** The canonical bytes of an entry. */
export function encodeEntry(e: LogEntry): Uint8Array {
  checkEntry(e);
  const text = `${ENTRY_FORMAT}\n${FIELDS.map((f) => `${f} ${e[f]}\n`).join('')}`;
  // Stryker disable next-line StringLiteral: Buffer's default encoding is UTF-8
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** Reads canonical entry bytes; anything that would not re-encode identically is refused. */
export function decodeEntry(bytes: Uint8Array): LogEntry {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    malformed('it is not valid UTF-8');
  }
  const lines = text.split('\n');
  if (lines.pop() !== '') malformed('it does not end with a newline');
  if (lines[0] !== ENTRY_FORMAT) malformed(`the first line is not ${ENTRY_FORMAT}`);
  if (lines.length !== FIELDS.length + 1) malformed(`it has ${lines.length} lines, not ${FIELDS.length + 1}`);
  const values: Record<string, string> = {};
  FIELDS.forEach((f, i) => {
    const line = lines[i + 1];
    if (!line.startsWith(`${f} `)) malformed(`line ${i + 2} is not "${f} <value>"`);
    values[f] = line.slice(f.length + 1);
  });
  if (!/^(0|[1-9][0-9]{0,15})$/.test(values.revision)) malformed(`revision ${JSON.stringify(values.revision)} is not canonical decimal`);
  const entry: LogEntry = {
    revision: Number(values.revision),
    digest: values.digest,
    issuer: values.issuer,
    subject: values.subject,
    capid: values.capid,
    version: values.version,
  };
  const again = encodeEntry(entry);
  // the checks above already pin every byte; this states the rule itself, should a field's check ever loosen
  // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable while the field checks hold
  if (Buffer.compare(Buffer.from(again), Buffer.from(bytes)) !== 0) malformed('it is not in canonical form');
  return entry;
}

/** SHA-256(0x00 ‖ encodeEntry(e)). */
export function entryLeafHash(e: LogEntry): Uint8Array {
  return leafHash(encodeEntry(e));
}
