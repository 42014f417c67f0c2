/**
 * Trusted log keys bound to the origins they may sign for. A key trusted for one team's
 * repositories must not vouch for another's: `<origin-prefix>=<verifier key>` binds a key to
 * the logs whose origin line is that prefix or lies under it (`registry.example.com/team/`
 * covers `registry.example.com/team/payments`, and `registry.example.com/team` does too, but
 * never `registry.example.com/teamevil/x`). A bare `<verifier key>` is bound to the origin its
 * own key name names (`generateNoteKey('registry.example.com/team/payments')`), so a bare key
 * named like a log keeps working and one named `ops-key` signs for nothing. A checkpoint whose
 * only trusted signatures are by keys not bound to its origin is TLOG_KEY_NOT_FOR_ORIGIN.
 */
import { TlogError } from './errors.js';
import { type NoteSignature, type NoteVerifier, parseVerifierKey } from './note.js';

/** Whether the origin prefix `prefix` covers the log origin `origin`: equal, or `origin` lies under it at a `/`. */
export function coversOrigin(prefix: string, origin: string): boolean {
  if (origin === prefix) return true;
  return origin.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/**
 * `<origin-prefix>=<vkey>` or a bare `<vkey>` (bound to its key name) as a verifier bound to
 * its origins. A whole text that parses as a key is bare (a key name may hold '='); else the
 * prefix is what comes before the first '='.
 */
export function parseTrustedLogKey(text: string): NoteVerifier {
  let bare: NoteVerifier | undefined;
  try {
    bare = parseVerifierKey(text);
  } catch {
    // with no '=' this parses the whole text again and throws its own refusal
    const eq = text.indexOf('=');
    return bindToOrigins(parseVerifierKey(text.slice(eq + 1)), [checkPrefix(text.slice(0, eq), text)]);
  }
  return bindToOrigins(bare, [bare.name]);
}

function checkPrefix(prefix: string, text: string): string {
  if (!/^[^\s=]+$/.test(prefix) || prefix.startsWith('/'))
    throw new TlogError(
      'TLOG_NOTE_BAD_KEY',
      `trusted log key ${JSON.stringify(text)}: the origin prefix ${JSON.stringify(prefix)} must be HOST[/PATH] with no space`,
    );
  return prefix;
}

/** `verifier`, trusted only for logs under `origins`. */
export function bindToOrigins(verifier: NoteVerifier, origins: readonly string[]): NoteVerifier {
  return { ...verifier, origins };
}

/**
 * Throws TLOG_KEY_NOT_FOR_ORIGIN unless a verified signature of the note is by a key that may
 * sign for `origin`. A verifier with no `origins` was chosen by its caller for this very log
 * (a library call naming one repository) and counts as bound to it.
 */
export function checkSignersForOrigin(verified: readonly NoteSignature[], verifiers: readonly NoteVerifier[], origin: string): void {
  const signers = verifiers.filter((v) => verified.some((s) => s.name === v.name && s.keyHash === v.keyHash));
  if (signers.some((v) => v.origins === undefined || v.origins.some((p) => coversOrigin(p, origin)))) return;
  // Stryker disable next-line ArrayDeclaration: a signer with no origins returned above
  const bound = signers.map((v) => `${v.name}+${v.keyHash} (${(v.origins ?? []).join(', ')})`).join('; ');
  throw new TlogError(
    'TLOG_KEY_NOT_FOR_ORIGIN',
    `the checkpoint for "${origin}" is signed only by trusted keys bound to other origins: ${bound}; trust a key for this origin with <origin-prefix>=<vkey>`,
  );
}
