/**
 * What each identity on the bus may do: the publish/subscribe permissions written into its
 * user JWT, built from the protocol's subject builders (client/protocol.ts). nats-server
 * enforces them before a message moves; anything not allowed is denied.
 *
 *   host       subscribe to its own instance's three subject bases (the shared ones only in
 *              their queue group), its inbox; publish only provider → actor dispatches for its
 *              own Provider and its own instance's load reports (client/load.ts); answer only
 *              requests it received (resp max 1).
 *   grantee    publish calls only for the granted operations, only with its own key as the
 *              caller token, and activation requests for the granted target with the same key
 *              (client/activation.ts); subscribe to its inbox and to dispatches from the granted
 *              Provider.
 *   controller read every load report and answer activation requests (the controller's own bus
 *              user, minted by itself); publish nothing else.
 *   admin      publish any call (it can act as any caller: the sandbox's and tests' operator
 *              tool, never handed to a service), subscribe to its inbox.
 *   system     (system account) only push account JWTs ($SYS.REQ.CLAIMS.UPDATE) and look them up.
 * Nobody may publish to `_INBOX.>` except as a reply (resp), and each identity subscribes only
 * under `_INBOX.<its key>`: nobody reads another's replies.
 */
import { capabilityActivationSubject, providerActivationSubject, ALL_ACTIVATION_SUBJECTS } from '../client/activation.js';
import { ALL_LOAD_SUBJECTS, loadSubject } from '../client/load.js';
import { capabilitySubject, DEFAULT_LINK, inboxPrefix, instanceSubject, providerSubject, subjectToken } from '../client/protocol.js';

export interface UserPermissions {
  pub: { allow?: string[]; deny?: string[] };
  sub: { allow?: string[]; deny?: string[] };
  resp?: { max: number; ttl: number };
}

/** May answer only requests it received, once each. */
// Stryker disable next-line ObjectLiteral: nats-server reads an empty resp as max 1 with the default expiry, the same permission
const answerOnce: Readonly<{ max: number; ttl: number }> = { max: 1, ttl: 0 };

/** A subscribe permission for a queue group: nats-server reads "subject queue". */
const queue = (subject: string, group: string) => `${subject} ${group}`;

export interface HostIdentity {
  namespace: string;
  provider: string;
  instance: string;
  /** The instance's capability id; without one the host gets no capability subject. */
  capid?: string;
  linkName?: string;
}

export function hostPermissions(userKey: string, h: HostIdentity): UserPermissions {
  const prov = providerSubject(h.namespace, h.provider);
  const cap = h.capid ? capabilitySubject(h.namespace, h.capid, h.linkName || DEFAULT_LINK) : undefined;
  const inst = instanceSubject(h.namespace, h.provider, h.instance);
  return {
    pub: {
      allow: [`gantry.${subjectToken(h.namespace)}.actor.*.${subjectToken(h.provider)}`, loadSubject(h.namespace, h.provider, h.instance)],
    },
    sub: { allow: [queue(`${prov}.*.*`, prov), `${inst}.*.*`, ...(cap ? [queue(`${cap}.*.*`, cap)] : []), `${inboxPrefix(userKey)}.>`] },
    resp: answerOnce,
  };
}

export type GrantTarget = { provider: string } | { capabilityId: string; linkName?: string };

/** Operations as subject tokens; '*' grants every operation. */
function opTokens(operations: string[]): string[] {
  return operations.includes('*') ? ['*'] : [...new Set(operations)].map(subjectToken);
}

export function granteePermissions(userKey: string, namespace: string, target: GrantTarget, operations: string[]): UserPermissions {
  const ns = subjectToken(namespace);
  const me = subjectToken(userKey);
  const pub: string[] = [];
  let dispatch: string;
  if ('provider' in target) {
    const prov = providerSubject(namespace, target.provider);
    const inst = `gantry.${ns}.instance.${subjectToken(target.provider)}.*`;
    for (const op of opTokens(operations)) pub.push(`${prov}.${op}.${me}`, `${inst}.${op}.${me}`);
    pub.push(providerActivationSubject(namespace, target.provider, userKey));
    dispatch = `gantry.${ns}.actor.${me}.${subjectToken(target.provider)}`;
  } else {
    const cap = capabilitySubject(namespace, target.capabilityId, target.linkName || DEFAULT_LINK);
    for (const op of opTokens(operations)) pub.push(`${cap}.${op}.${me}`);
    pub.push(capabilityActivationSubject(namespace, target.capabilityId, target.linkName, userKey));
    // A capability may be served by any Provider: the looser rule (docs/security.md).
    dispatch = `gantry.${ns}.actor.${me}.*`;
  }
  return { pub: { allow: pub }, sub: { allow: [`${inboxPrefix(userKey)}.>`, dispatch] }, resp: answerOnce };
}

export function adminPermissions(userKey: string): UserPermissions {
  return { pub: { allow: ['gantry.>'] }, sub: { allow: [`${inboxPrefix(userKey)}.>`] }, resp: answerOnce };
}

/**
 * The controller's own user on the bus: it reads every host's load reports and answers
 * activation requests (in one queue group, so a request is answered once), and publishes only
 * replies.
 */
export function controllerBusPermissions(userKey: string): UserPermissions {
  return {
    // Stryker disable next-line ObjectLiteral,ArrayDeclaration: without a pub rule the account's default permissions (deny '>', accountDefaultPermissions) refuse the same; explicit so this JWT says it alone
    pub: { deny: ['>'] },
    sub: { allow: [ALL_LOAD_SUBJECTS, `${ALL_ACTIVATION_SUBJECTS} ${CONTROLLER_ACTIVATION_QUEUE}`, `${inboxPrefix(userKey)}.>`] },
    resp: answerOnce,
  };
}

/** The queue group the controller answers activation requests in. */
export const CONTROLLER_ACTIVATION_QUEUE = 'gantry-activation';

/** The system-account user that pushes and looks up account JWTs (the controller, the sandbox). */
export function systemPermissions(userKey: string): UserPermissions {
  return {
    pub: { allow: ['$SYS.REQ.CLAIMS.UPDATE', '$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE', '$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP'] },
    sub: { allow: [`${inboxPrefix(userKey)}.>`] },
  };
}

/**
 * What a user of the gantry account may do when its JWT names no permissions: nothing. Every
 * identity Gantry mints carries its own; a user signed without any (a forgotten field, another
 * tool's default) must not inherit publish and subscribe everywhere (the account JWT's
 * `default_permissions`).
 */
export function accountDefaultPermissions(): UserPermissions {
  return { pub: { deny: ['>'] }, sub: { deny: ['>'] } };
}
