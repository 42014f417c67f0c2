/**
 * The provider host's NATS connection: the client's (client/nats.ts), with a connection that
 * cannot be made reported as the host's own error, same code, so the agent's status reason
 * and the supervisor's retry decision see one kind of error.
 */
import { connectError as clientConnectError, NatsConnectError, type NatsOptions } from '../../client/nats.js';
import { HostError } from './errors.js';

export { connectNats, natsConnectionOptions, type NatsOptions } from '../../client/nats.js';

export function connectError(e: unknown, o: NatsOptions): HostError {
  if (e instanceof HostError) return e;
  const c = e instanceof NatsConnectError ? e : clientConnectError(e, o);
  return new HostError(c.code, c.message);
}
