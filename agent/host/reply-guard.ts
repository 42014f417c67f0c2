/**
 * Whose inbox a request's reply goes to. Under the membrane every identity reads only
 * `_INBOX.<its user key>.>` (membrane/permissions.ts) and a caller's key is the call subject's
 * last token, which nats-server lets it publish only as itself; so a genuine request's reply
 * subject lies below its caller's inbox, and a host that answered any other would deliver its
 * answer into someone else's inbox (a reflected reply).
 */
import { inboxPrefix } from '../../client/protocol.js';

/** Whether `reply` is below `caller`'s own inbox (`_INBOX.<caller>.…`, the trailing dot included). */
export function replyBelongsToCaller(reply: string, caller: string): boolean {
  return reply.startsWith(`${inboxPrefix(caller)}.`);
}
