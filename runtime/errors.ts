/**
 * Errors Gantry's library code throws when there is no domain error type of its own to use
 * (par/ has ParError, registry/ RegistryError, client/ CallError, …): a stable `code` for
 * programs and a message a person can act on. A usage error (`UsageError`, or `usage: true`)
 * says the caller asked for something impossible (a missing flag, a malformed address, a
 * kubeconfig that does not exist); any other says the thing asked for failed. Only cli/ turns
 * them into exit statuses (cli/exit-status.ts): 2 for a usage error, 1 for the others.
 *
 *   throw new UsageError('BAD_LISTEN_ADDR', `--metrics-addr ${addr}: expected HOST:PORT`);
 */
export class GantryError extends Error {
  override name = 'GantryError';
  readonly usage: boolean;
  constructor(
    readonly code: string,
    message: string,
    options: { cause?: unknown; usage?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.usage = !!options.usage;
  }
}

export class UsageError extends GantryError {
  override name = 'UsageError';
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, usage: true });
  }
}
