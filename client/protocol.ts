/**
 * The NATS protocol between callers and provider instances (see docs/protocol.md).
 *
 * A provider host process subscribes, for its one instance, to three subjects:
 *   gantry.<ns>.provider.<provider>          queue group = that subject (load-balanced over Ready instances)
 *   gantry.<ns>.instance.<instance>          this instance only
 *   gantry.<ns>.cap.<capid>.<link>           queue group = that subject (capability id + link name)
 * Payloads are opaque bytes; operation, caller identity, serving instance and errors travel in
 * headers. Provider → actor calls (the dispatcher) go to gantry.<ns>.actor.<actor>.
 */

export const HEADER_OP = 'Gantry-Op';
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
  'UNAUTHORIZED', // caller identity refused
  'BAD_REQUEST', // missing operation header
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
  return s.replace(/[%.*>\s\p{Cc}]/gu, (ch) => [...Buffer.from(ch, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''));
}

export function providerSubject(namespace: string, provider: string): string {
  return `gantry.${subjectToken(namespace)}.provider.${subjectToken(provider)}`;
}

export function instanceSubject(namespace: string, instance: string): string {
  return `gantry.${subjectToken(namespace)}.instance.${subjectToken(instance)}`;
}

export function capabilitySubject(namespace: string, capid: string, link = DEFAULT_LINK): string {
  return `gantry.${subjectToken(namespace)}.cap.${subjectToken(capid)}.${subjectToken(link)}`;
}

export function actorSubject(namespace: string, actor: string): string {
  return `gantry.${subjectToken(namespace)}.actor.${subjectToken(actor)}`;
}
