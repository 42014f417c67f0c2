/**
 * A nats-server in operator mode with `resolver: MEMORY` (the simplest creds setup a user may
 * run without the membrane), built with the membrane's production JWT and .creds code.
 */
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { encodeJwt } from '../../client/jwt.js';
import { formatCreds } from '../../client/creds.js';

const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export interface OperatorSetup {
  /** nats-server configuration: operator JWT, memory resolver with the account preloaded. */
  config: string;
  /** A user's .creds file content, signed by the preloaded account. */
  userCreds(name: string, extra?: { exp?: number }): string;
  /** A user signed by an account the server does not know. */
  strangerCreds(name: string): string;
}

export function operatorSetup(): OperatorSetup {
  const operator = createOperator();
  const account = createAccount();
  const operatorJwt = encodeJwt(operator, { sub: operator.getPublicKey(), name: 'gantry-test-operator', nats: { type: 'operator' } });
  const accountJwt = encodeJwt(operator, {
    sub: account.getPublicKey(),
    name: 'gantry-test-account',
    nats: { type: 'account', limits: unlimited },
  });
  const user = (signer: KeyPair, name: string, extra?: { exp?: number }) => {
    const u = createUser();
    const jwt = encodeJwt(signer, {
      sub: u.getPublicKey(),
      name,
      exp: extra?.exp,
      nats: { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 },
    });
    return formatCreds(jwt, new TextDecoder().decode(u.getSeed()));
  };
  return {
    config: `operator: ${operatorJwt}\nresolver: MEMORY\nresolver_preload: {\n  ${account.getPublicKey()}: ${accountJwt}\n}\n`,
    userCreds: (name, extra) => user(account, name, extra),
    strangerCreds: (name) => user(createAccount(), name),
  };
}
