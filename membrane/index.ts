/**
 * The membrane: no call, no subscription and no reply on the bus without an explicit,
 * revocable grant. Built on NATS decentralized authentication (operator → account → user
 * JWTs with permissions, expiry and revocation), which nats-server enforces before a message
 * moves. Below controller/ and cli/, above client/.
 */
export * from '../client/membrane-errors.js';
export * from '../client/jwt.js';
export * from '../client/creds.js';
export * from './permissions.js';
export * from './authority.js';
export * from './bus-tls.js';
export * from './bus-pki.js';
