/**
 * The agent gives every provider host it starts the bus CA it was given (`--nats-ca`), with
 * the membrane (the host's own credentials) and without: a host on an encrypted bus verifies
 * the servers as the agent does (bus-tls.test.ts shows a host without the CA refused,
 * NATS_TLS_FAILED).
 */
import { expect, it } from 'vitest';
import { providerHostSpec } from '../../agent/host-factory.js';
import type { ProviderInstance } from '../../api/index.js';

const inst = {
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'ProviderInstance',
  metadata: { namespace: 'apps', name: 'echo-0', uid: 'u1' },
  spec: { provider: 'echo', nodeName: 'n1', target: 'x86_64-linux', archive: { ref: 'r/echo:1', digest: 'sha256:00' } },
} as ProviderInstance;
const url = 'tls://gantry-nats-0.gantry-nats-headless.gantry-system.svc:4222';
const tls = { caFile: '/etc/gantry/nats-ca/ca.crt' };

it('with the membrane: the host connects with its own creds and the agent’s CA', () => {
  const prepared = { libraryPath: '/lib/x.so', capid: 'gantry:echo', sha256: 'ab', natsCredsFile: '/creds/u1.creds' };
  const spec = providerHostSpec(inst, prepared, { natsUrl: url, membrane: true, nats: { tls, token: 'not-for-hosts' } });
  expect(spec.nats).toEqual({ servers: url, credsFile: '/creds/u1.creds', tls, connectTimeoutMs: undefined });
});

it('without the membrane: the agent’s NATS options, the CA among them', () => {
  const prepared = { libraryPath: '/lib/x.so', capid: 'gantry:echo', sha256: 'ab' };
  expect(providerHostSpec(inst, prepared, { natsUrl: url, nats: { tls } }).nats).toEqual({ servers: url, tls });
});
