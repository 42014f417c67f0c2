/**
 * Reading an activation request (client/activation.ts): which namespace, which target and
 * which caller its subject names, and how long the caller waits. Anything else is BAD_REQUEST
 * with the reason, before anything is woken.
 */
import { subjectTokenDecode } from '../../client/protocol.js';

export type ActivationTarget = { kind: 'provider'; provider: string } | { kind: 'cap'; capid: string; link: string };

export interface ActivationRequest {
  namespace: string;
  target: ActivationTarget;
  caller: string;
  /** How long to wait for a Ready instance: the caller's Gantry-Timeout-Ms, capped. */
  waitMs: number;
}

/** Decodes one subject token (subjectToken's %XX); '' when it is empty or not one (refused as such). */
function token(t: string): string {
  try {
    return subjectTokenDecode(t);
  } catch (e) {
    // Stryker disable next-line ConditionalExpression: decodeURIComponent throws nothing but URIError
    if (e instanceof URIError) return '';
    throw e;
  }
}

/**
 * The request on `subject` with Gantry-Timeout-Ms `timeoutHeader`, or the reason it is not
 * one. A missing timeout waits `maxWaitMs`; a longer one is cut to it.
 */
export function parseActivationRequest(
  subject: string,
  timeoutHeader: string | undefined,
  maxWaitMs: number,
): ActivationRequest | { error: string } {
  const t = subject.split('.');
  if (t[0] !== 'gantry' || t[2] !== 'activate') return { error: `${subject} is not an activation subject (gantry.<ns>.activate.…)` };
  const shape = t[3] === 'provider' && t.length === 6 ? 'provider' : t[3] === 'cap' && t.length === 7 ? 'cap' : undefined;
  if (!shape)
    return {
      error: `${subject} names no target: want gantry.<ns>.activate.provider.<provider>.<caller> or gantry.<ns>.activate.cap.<capid>.<link>.<caller>`,
    };
  // every name token but the kind: ns, then provider | capid + link, then the caller
  const names = [t[1], ...t.slice(4)].map(token);
  if (names.includes('')) return { error: `${subject} has an empty or undecodable token` };
  const [namespace, first, second] = names;
  const target: ActivationTarget =
    shape === 'provider' ? { kind: 'provider', provider: first } : { kind: 'cap', capid: first, link: second };
  const caller = names[names.length - 1];
  let waitMs = maxWaitMs;
  if (timeoutHeader !== undefined && timeoutHeader !== '') {
    const n = Number(timeoutHeader);
    if (!Number.isInteger(n) || n <= 0) return { error: `Gantry-Timeout-Ms must be a positive whole number of ms, got "${timeoutHeader}"` };
    waitMs = Math.min(n, maxWaitMs);
  }
  return { namespace, target, caller, waitMs };
}
