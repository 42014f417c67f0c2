/** The membrane's errors: a stable code and a message that says what to do. */
export type MembraneErrorCode =
  | 'JWT_INVALID' // a token that does not decode or verify
  | 'CREDS_INVALID' // a .creds file that is not one
  | 'KEYS_INVALID' // the authority's key files are missing or not the right kind of seed
  | 'PUSH_FAILED' // nats-server refused (or did not answer) an account JWT update
  | 'REVOCATIONS_TOO_LARGE'; // the account JWT (its revocation list) exceeds the server's max_payload: not pushed

export class MembraneError extends Error {
  override name = 'MembraneError';
  constructor(
    readonly code: MembraneErrorCode,
    message: string,
  ) {
    super(message);
  }
}
