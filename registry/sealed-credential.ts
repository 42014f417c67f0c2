/**
 * A pull credential, or an instance's secret config values, sealed to one node. Each agent makes an X25519 key pair (a NATS xkey,
 * public `X…`) on its node, keeps the seed there and publishes the public key on its Lease
 * (api/common.ts `annotations.nodeSealKey`). The controller seals each instance's pull
 * credential to the key of the instance's node with a fresh sender key (so no sender seed
 * has to be kept) and stores only this envelope; the agent of that node opens it. Any other
 * reader — another node's agent included — gets ciphertext it cannot open:
 *
 *   const env = sealTo('node-a', sealKeyOfLease(leaseA), dockerConfigJson);  // controller
 *   const json = openSealed(nodeAKey, env);                                   // node A's agent
 *   openSealed(nodeBKey, env);   // SealError SEALED_FOR_ANOTHER_KEY
 *
 * `what` names what is sealed in every message ('pull credential', 'secret config'), so a
 * refusal says which of an instance's envelopes it is about.
 *
 * Integrity comes from RBAC (only the controller writes the objects holding envelopes); the
 * seal gives confidentiality against every reader but the node it is meant for.
 */
import { createCurve, type KeyPair } from '@nats-io/nkeys';
import { annotations } from '../api/common.js';

export type SealErrorCode =
  | 'SEAL_KEY_MISSING' // the node's agent has not published a seal key (yet)
  | 'SEAL_KEY_INVALID' // what it published is not a curve public key
  | 'SEALED_MALFORMED' // the stored envelope is not one
  | 'SEALED_FOR_ANOTHER_KEY' // sealed to another node's (or an older) key
  | 'SEALED_UNOPENABLE'; // names this key but does not open with it (tampered, or not from that sender)

export class SealError extends Error {
  override name = 'SealError';
  constructor(
    readonly code: SealErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Envelope {
  v: 1;
  /** The node it was sealed for, and that node's key then. */
  node: string;
  recipient: string;
  /** The one-off sender key: `open` needs it. */
  sender: string;
  box: string;
}

/** The seal key an agent Lease publishes; undefined when there is none. */
export function sealKeyOfLease(lease: { metadata?: { annotations?: Record<string, string> } } | undefined): string | undefined {
  return lease?.metadata?.annotations?.[annotations.nodeSealKey] || undefined;
}

/** Seal `plaintext` to `node`'s key `recipient` (from its Lease); the envelope as JSON text. */
export function sealTo(node: string, recipient: string | undefined, plaintext: string, what = 'pull credential'): string {
  if (!recipient)
    throw new SealError(
      'SEAL_KEY_MISSING',
      `node ${node}'s agent has not published its seal key (Lease annotation ${annotations.nodeSealKey}); the ${what} waits for it`,
    );
  const sender = createCurve();
  let box: Uint8Array;
  try {
    box = sender.seal(new TextEncoder().encode(plaintext), recipient);
  } catch (e) {
    throw new SealError('SEAL_KEY_INVALID', `node ${node}'s seal key ${recipient} is not a curve public key (X…): ${(e as Error).message}`);
  }
  const env: Envelope = { v: 1, node, recipient, sender: sender.getPublicKey(), box: Buffer.from(box).toString('base64') };
  return JSON.stringify(env);
}

function parse(text: string, what: string): Envelope {
  let env: Partial<Envelope>;
  try {
    env = JSON.parse(text) as Partial<Envelope>;
  } catch (e) {
    throw new SealError('SEALED_MALFORMED', `the sealed ${what} is not JSON: ${(e as Error).message}`);
  }
  for (const f of ['node', 'recipient', 'sender', 'box'] as const)
    if (typeof env?.[f] !== 'string') throw new SealError('SEALED_MALFORMED', `the sealed ${what} has no ${f}`);
  if (env.v !== 1) throw new SealError('SEALED_MALFORMED', `the sealed ${what} has version ${String(env.v)}; this agent opens 1`);
  return env as Envelope;
}

/** Open an envelope with this node's key pair, or say precisely why not. */
export function openSealed(own: KeyPair, text: string, what = 'pull credential'): string {
  const env = parse(text, what);
  const mine = own.getPublicKey();
  if (env.recipient !== mine)
    throw new SealError(
      'SEALED_FOR_ANOTHER_KEY',
      `the ${what} is sealed to node ${env.node}'s key ${env.recipient}, not to this node's ${mine}`,
    );
  let opened: Uint8Array | null = null;
  // Stryker disable next-line BlockStatement: `opened` stays null either way
  try {
    opened = own.open(Buffer.from(env.box, 'base64'), env.sender);
  } catch {
    // a sender key that is not one: the same refusal as a box that does not open
  }
  if (!opened) throw new SealError('SEALED_UNOPENABLE', `the ${what} sealed to ${mine} does not open with this node's key`);
  return new TextDecoder().decode(opened);
}
