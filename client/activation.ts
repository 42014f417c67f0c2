/**
 * Activation: waking a Provider that autoscaling has scaled to zero (docs/protocol.md
 * "Activation", docs/autoscaling.md).
 *
 * A call that finds no responder (NO_RESPONDERS) may ask the controller to activate its target
 * with a request on the activation subject that mirrors the call's base:
 *   gantry.<ns>.activate.provider.<provider>.<caller>
 *   gantry.<ns>.activate.cap.<capid>.<link>.<caller>
 * The caller token is the caller's own NATS user key, as in calls; under the membrane only a
 * caller holding a grant for that Provider (or capability) may publish there
 * (membrane/permissions.ts granteePermissions), so an ungranted caller cannot wake anything:
 * nats-server refuses the publish and the client reports FORBIDDEN.
 *
 * The request carries Gantry-Timeout-Ms (how long the caller will wait) and no payload. The
 * controller (its leader) scales the Provider 0→1 with reason Activated and answers once an
 * instance is Ready: `Gantry-Activation: Ready` and `Gantry-Instance: <instance>`, or
 * `Gantry-Error: <ActivationErrorCode>` with `Gantry-Error-Message`. The caller then sends its
 * call again.
 */
import { DEFAULT_LINK, subjectToken } from './protocol.js';

export const HEADER_ACTIVATION = 'Gantry-Activation';
export const ACTIVATION_READY = 'Ready';

export const ActivationErrorCodes = [
  'NOT_FOUND', // no such Provider (or no Provider with autoscale serves that capability)
  'NOT_ACTIVATABLE', // the Provider has no spec.autoscale (scaled to zero by hand) or is paused
  'TIMEOUT', // no instance became Ready within the caller's Gantry-Timeout-Ms
  'BAD_REQUEST', // the subject is not an activation subject
] as const;
export type ActivationErrorCode = (typeof ActivationErrorCodes)[number];

/** The activation subject for a Provider. */
export function providerActivationSubject(namespace: string, provider: string, caller: string): string {
  return `gantry.${subjectToken(namespace)}.activate.provider.${subjectToken(provider)}.${subjectToken(caller)}`;
}

/** The activation subject for a capability id + link name. */
export function capabilityActivationSubject(namespace: string, capid: string, link: string | undefined, caller: string): string {
  return `gantry.${subjectToken(namespace)}.activate.cap.${subjectToken(capid)}.${subjectToken(link || DEFAULT_LINK)}.${subjectToken(caller)}`;
}

/** Every activation request of every namespace (what the controller's leader subscribes to). */
export const ALL_ACTIVATION_SUBJECTS = 'gantry.*.activate.>';
