/**
 * The NATS protocol between callers and provider instances, version 2 (see docs/protocol.md).
 *
 * A provider host process subscribes, for its one instance, to three subject bases, each
 * followed by two tokens, the operation and the caller's NATS user public key:
 *   gantry.<ns>.provider.<provider>.<op>.<caller>             queue group gantry.<ns>.provider.<provider>
 *   gantry.<ns>.instance.<provider>.<instance>.<op>.<caller>  this instance only
 *   gantry.<ns>.cap.<capid>.<link>.<op>.<caller>              queue group gantry.<ns>.cap.<capid>.<link>
 * The caller token is authoritative: nats-server lets a caller publish only with its own key
 * there (the membrane, membrane/permissions.ts), so the provider's `actor` is the verified
 * caller, never a header the caller chose. Payloads are opaque bytes; serving instance and
 * errors travel in headers. Provider → actor calls (the dispatcher) go to
 * gantry.<ns>.actor.<actor>.<provider>. Every identity's replies arrive under its own inbox
 * prefix, _INBOX.<its user key>.
 */

/** Protocol version (docs/protocol.md); v2 moved the operation and the caller into the subject. */
export const PROTOCOL_VERSION = 2;

/** Informational only since v2: the operation is the subject's second-to-last token. */
export const HEADER_OP = 'Gantry-Op';
/** Ignored since v2 (a caller could put anything in it): the actor is the subject's last token. */
export const HEADER_ACTOR = 'Gantry-Actor';
export const HEADER_INSTANCE = 'Gantry-Instance';
export const HEADER_PROVIDER = 'Gantry-Provider';
export const HEADER_ERROR = 'Gantry-Error';
export const HEADER_ERROR_MESSAGE = 'Gantry-Error-Message';
/** The provider's own return code (gantry_provider.h GANTRY_ERR_*) when HEADER_ERROR is PROVIDER_ERROR. */
export const HEADER_PROVIDER_CODE = 'Gantry-Provider-Code';
/** Caller's deadline in ms, so a host can drop work whose caller has already given up. */
export const HEADER_TIMEOUT = 'Gantry-Timeout-Ms';

/** Errors a reply can carry in HEADER_ERROR; callers also see NO_RESPONDERS and TIMEOUT locally. */
export const CallErrorCodes = [
  'PROVIDER_ERROR', // the provider's handle_call returned non-zero; message in HEADER_ERROR_MESSAGE
  'PAYLOAD_TOO_LARGE', // request over the host's payload cap
  'TIMEOUT', // the native call ran past the per-call timeout
  'OVERLOADED', // too many calls in flight on this instance
  'UNAUTHORIZED', // the provider refused the caller (its handle_call said so)
  'FORBIDDEN', // the membrane refused: no grant for this call, or it expired or was revoked (caller side)
  'BAD_REQUEST', // the subject does not end in <op>.<caller>
  'NO_RESPONDERS', // no Ready instance subscribed (caller side)
  'NOT_READY', // the instance is stopping
] as const;
export type CallErrorCode = (typeof CallErrorCodes)[number];

/** Default link name when a Provider does not set spec.linkName. */
export const DEFAULT_LINK = 'default';

/**
 * Encode any string as one NATS subject token, injectively: '%', '.', '*', '>', whitespace
 * and control characters become %XX (their UTF-8 bytes in upper-case hex), everything else
 * stays. So `acme:kv.v2` → `acme:kv%2Ev2` and `acme:kv_v2` stays `acme:kv_v2`: two different
 * names never share a subject (an earlier '_' mapping let them collide).
 */
export function subjectToken(s: string): string {
  if (!s) throw new Error('empty subject token');
  return s.replace(/[%.*>\s\p{Cc}]/gu, (ch) =>
    [...Buffer.from(ch, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''),
  );
}

/** Decode a token made by subjectToken. */
export function subjectTokenDecode(t: string): string {
  return decodeURIComponent(t);
}

/** Callers without a NATS user key (servers without the membrane, e.g. plain test servers) use this token. */
export const ANONYMOUS_CALLER = 'anonymous';

/** The base a Provider's instances share (its queue group). */
export function providerSubject(namespace: string, provider: string): string {
  return `gantry.${subjectToken(namespace)}.provider.${subjectToken(provider)}`;
}

/** The base of one instance of a Provider. */
export function instanceSubject(namespace: string, provider: string, instance: string): string {
  return `gantry.${subjectToken(namespace)}.instance.${subjectToken(provider)}.${subjectToken(instance)}`;
}

/** The base of a capability id + link name (its queue group). */
export function capabilitySubject(namespace: string, capid: string, link = DEFAULT_LINK): string {
  return `gantry.${subjectToken(namespace)}.cap.${subjectToken(capid)}.${subjectToken(link)}`;
}

/** The subject one call is published on: a base, the operation, the caller's user key. */
export function callSubjectFor(base: string, op: string, caller: string): string {
  return `${base}.${subjectToken(op)}.${subjectToken(caller)}`;
}

/** Operation and caller of a request that arrived on `<base>.<op>.<caller>`; undefined when malformed. */
export function parseCallSubject(subject: string, base: string): { op: string; caller: string } | undefined {
  if (!subject.startsWith(base + '.')) return undefined;
  const rest = subject.slice(base.length + 1).split('.');
  if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
  try {
    return { op: subjectTokenDecode(rest[0]), caller: subjectTokenDecode(rest[1]) };
  } catch {
    return undefined;
  }
}

/** Where a provider's host delivers provider → actor calls for one actor. */
export function actorSubject(namespace: string, actor: string, provider: string): string {
  return `gantry.${subjectToken(namespace)}.actor.${subjectToken(actor)}.${subjectToken(provider)}`;
}

/** The inbox prefix of an identity: it may subscribe only below it (and nobody else may). */
export function inboxPrefix(userKey: string): string {
  return `_INBOX.${userKey}`;
}
