/**
 * The `gantry-trust` ConfigMap (deploy/base/trust-policy.yaml) read as a trust policy, for the
 * controller and agents that watch it at run time (api/trust-watch.ts).
 *
 * Strict, because a policy read wrong is trust granted wrong: an unknown or misspelled key, a
 * `binaryData` member, an entry of `trusted-issuers` that is not an account key, or a
 * `require-log` that is neither true nor false refuses the whole update with a
 * TRUST_POLICY_INVALID error naming the key and entry. Nothing is taken from a refused
 * update — not even its well-formed entries — so a bad edit can never add an issuer.
 */
import { accountKeyPattern } from './common.js';

export interface TrustPolicy {
  /** Account keys (A…) whose signed archives may run; empty trusts nothing. */
  trustedIssuers: string[];
  /** The keys read only at start (their env in deploy/base): checked here, applied on restart. */
  plainHttpRegistries: string[];
  logKeys: string[];
  requireLog: boolean;
}

/** The ConfigMap's members as the API serves them. */
export interface TrustConfigMap {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export class TrustPolicyError extends Error {
  readonly code = 'TRUST_POLICY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'TrustPolicyError';
  }
}

export const TRUST_POLICY_KEYS = ['trusted-issuers', 'plain-http-registries', 'log-keys', 'require-log'] as const;

const accountKey = new RegExp(accountKeyPattern);
const hostPort = /^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$/;

/** Comma- (or whitespace-) separated entries, blanks dropped: the shell in deploy/ split them the same way. */
function entries(v: string | undefined): string[] {
  // Stryker disable next-line Regex: one separator at a time leaves more blanks, which the filter drops
  return (v ?? '').split(/[\s,]+/).filter((e) => e !== '');
}

/** `where` names the ConfigMap (NAMESPACE/NAME) in every error. */
export function parseTrustPolicy(cm: TrustConfigMap, where: string): TrustPolicy {
  const bad = (what: string) => new TrustPolicyError(`${where}: ${what}; the last valid trust policy stays in force`);
  if (Object.keys(cm.binaryData ?? {}).length > 0)
    throw bad(`binaryData (${Object.keys(cm.binaryData ?? {}).join(', ')}) is not read; trust policy keys belong under data`);
  const data = cm.data ?? {};
  const unknown = Object.keys(data).filter((k) => !(TRUST_POLICY_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw bad(
      `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the keys are ${TRUST_POLICY_KEYS.join(', ')})`,
    );
  const issuers = entries(data['trusted-issuers']);
  issuers.forEach((k, i) => {
    if (accountKey.test(k)) return;
    // a seed pasted by mistake is a secret: say what it is without writing it to a log or an event
    if (/^S[A-Z2-7]{2}/.test(k))
      throw bad(`trusted-issuers entry ${i + 1} is a seed (S…), not a public key: never put a seed here, and rotate it`);
    throw bad(
      `trusted-issuers entry ${i + 1} ${JSON.stringify(k.slice(0, 64))} is not an account public key (A followed by 55 base32 characters)`,
    );
  });
  const registries = entries(data['plain-http-registries']);
  for (const r of registries)
    if (!hostPort.test(r)) throw bad(`plain-http-registries entry ${JSON.stringify(r.slice(0, 64))} is not HOST:PORT`);
  const requireLog = (data['require-log'] ?? '').trim();
  if (!['', 'true', 'false'].includes(requireLog))
    throw bad(`require-log is ${JSON.stringify(requireLog.slice(0, 64))}, expected "true" or "false"`);
  return {
    trustedIssuers: [...new Set(issuers)],
    plainHttpRegistries: registries,
    logKeys: entries(data['log-keys']),
    requireLog: requireLog === 'true',
  };
}

/** `NAMESPACE/NAME` → its parts, or a usage error naming the flag. */
export function parseConfigMapRef(v: string, flag: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(v);
  if (!m)
    throw Object.assign(new TrustPolicyError(`${flag} ${JSON.stringify(v)}: expected NAMESPACE/NAME of a ConfigMap`), { exitCode: 2 });
  return { namespace: m[1], name: m[3] };
}
