/**
 * The host's NATS connection options against real nats-servers: token, nkey and TLS (server
 * verified by a CA file; mutual TLS with a client certificate) and a user JWT creds file on a
 * server in operator mode. Each server refuses what it
 * should, and the host says why at start — NATS_AUTH_FAILED or NATS_TLS_FAILED — instead of
 * hanging or reporting a generic failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { startNats, type NatsServer } from '../support/nats.js';
import { connectNats, type CrashInfo, type NatsOptions } from '../../agent/host/index.js';
import { callProvider } from '../../client/call.js';
import { NS, buildProviders, makeHost, nextEvent, stopAllHosts, text, startError } from './helpers.js';
import { makeCerts, type TestCerts } from './certs.js';
import { operatorSetup } from './jwt.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const servers: NatsServer[] = [];
let certs: TestCerts;

beforeAll(() => {
  buildProviders();
  certs = makeCerts();
});

afterAll(async () => {
  await stopAllHosts();
  await Promise.all(servers.map((s) => s.stop()));
  certs?.remove();
});

async function server(config: string, port?: number): Promise<NatsServer> {
  const s = await startNats({ config, port });
  servers.push(s);
  return s;
}

/** Start an echo host with these NATS options and call it through a client using the same ones. */
async function servesWith(name: string, nats: NatsOptions): Promise<void> {
  const host = makeHost(String(nats.servers), { provider: name, instance: `${name}-0`, nats });
  await host.start();
  const nc = await connectNats(nats);
  try {
    const r = await callProvider(nc, { namespace: NS, provider: name, op: 'Echo', data: `via ${name}` });
    expect(text(r.reply)).toBe(`via ${name}`);
    expect(r.instance).toBe(`${name}-0`);
  } finally {
    await nc.close();
  }
}

describe('credentials', () => {
  it('token: the right token serves; a wrong or missing token is NATS_AUTH_FAILED at start', async () => {
    const s = await server('authorization { token: "t0ken-for-hosts" }\n');
    await servesWith('echo-token', { servers: s.url, token: 't0ken-for-hosts' });
    const wrong = await startError(
      makeHost(s.url, { provider: 'echo-token-bad', instance: 'echo-token-bad-0', nats: { servers: s.url, token: 'guessed' } }),
    );
    expect(wrong.code).toBe('NATS_AUTH_FAILED');
    expect(wrong.message).toMatch(/refused this host's credentials.*Authorization Violation/i);
    const none = await startError(makeHost(s.url, { provider: 'echo-token-none', instance: 'echo-token-none-0' }));
    expect(none.code).toBe('NATS_AUTH_FAILED');
  });

  it('reconnects with its token and resubscribes; credentials refused after a reconnect: the host exits NATS_AUTH_FAILED and is restarted with backoff, not left hanging', async () => {
    const first = await server('authorization { token: "before" }\n');
    const host = makeHost(
      first.url,
      { provider: 'echo-rotated', instance: 'echo-rotated-0', nats: { servers: first.url, token: 'before' } },
      { backoff: { initialMs: 200, maxMs: 1000 } },
    );
    await host.start();
    const pid = host.pid;
    // Same address, same token: the host reconnects with its credentials and resubscribes.
    await first.stop();
    const same = await server('authorization { token: "before" }\n', first.port);
    const nc = await connectNats({ servers: same.url, token: 'before' });
    let reply = '';
    for (let i = 0; i < 100 && reply !== 'again'; i++) {
      reply = await callProvider(nc, { namespace: NS, provider: 'echo-rotated', op: 'Echo', data: 'again', timeoutMs: 1000 }).then(
        (r) => text(r.reply),
        () => '',
      );
      if (reply !== 'again') await new Promise((r) => setTimeout(r, 100));
    }
    await nc.close();
    expect(reply).toBe('again');
    expect(host.pid).toBe(pid);
    // Same address, new token: the host's reconnects are refused.
    const crash = nextEvent<CrashInfo>(host, 'crash', 30_000);
    await same.stop();
    await server('authorization { token: "after" }\n', first.port);
    const c = await crash;
    expect(c.restartCount).toBe(1);
    expect(c.error?.code).toBe('NATS_AUTH_FAILED');
    expect(c.error?.message).toMatch(/lost NATS.*Authorization Violation/);
    expect(host.pid).not.toBe(pid);
    // The next incarnation cannot start either, and says why.
    const again = await nextEvent<CrashInfo>(host, 'crash', 30_000);
    expect(again.error?.code).toBe('NATS_AUTH_FAILED');
    expect(again.nextDelayMs).toBeGreaterThan(c.nextDelayMs);
    await host.stop();
  });

  it('nkey: a listed user nkey serves; an unlisted one or a malformed seed is NATS_AUTH_FAILED', async () => {
    const user = createUser();
    const stranger = createUser();
    const s = await server(`authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const seed = new TextDecoder().decode(user.getSeed());
    expect(seed).toMatch(/^SU/);
    await servesWith('echo-nkey', { servers: s.url, nkeySeed: seed });

    const unlisted = await startError(
      makeHost(s.url, {
        provider: 'echo-nkey-x',
        instance: 'echo-nkey-x-0',
        nats: { servers: s.url, nkeySeed: new TextDecoder().decode(stranger.getSeed()) },
      }),
    );
    expect(unlisted.code).toBe('NATS_AUTH_FAILED');
    const malformed = await startError(
      makeHost(s.url, { provider: 'echo-nkey-m', instance: 'echo-nkey-m-0', nats: { servers: s.url, nkeySeed: 'SUNOTASEED' } }),
    );
    expect(malformed.code).toBe('NATS_AUTH_FAILED');
    expect(malformed.message).toMatch(/not a user nkey seed/);
  });
});

describe('TLS', () => {
  it('verifies the server with the CA file and serves; without the CA it is NATS_TLS_FAILED', async () => {
    const s = await server(`tls { cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}", timeout: 2 }\n`);
    await servesWith('echo-tls', { servers: s.url, tls: { caFile: certs.caFile } });

    const noCa = await startError(makeHost(s.url, { provider: 'echo-tls-noca', instance: 'echo-tls-noca-0', nats: { servers: s.url } }));
    expect(noCa.code).toBe('NATS_TLS_FAILED');
    expect(noCa.message).toMatch(/^TLS with NATS at nats:\/\/127\.0\.0\.1:\d+ failed: .*(certificate|UNABLE_TO_VERIFY)/);
    const missingCa = await startError(
      makeHost(s.url, {
        provider: 'echo-tls-gone',
        instance: 'echo-tls-gone-0',
        nats: { servers: s.url, tls: { caFile: `${certs.dir}/no-such-ca.pem` } },
      }),
    );
    expect(missingCa.code).toBe('NATS_TLS_FAILED');
    expect(missingCa.message).toMatch(/no-such-ca\.pem/);
  });

  it('mutual TLS: the host presents its client certificate; without one it is NATS_TLS_FAILED', async () => {
    const s = await server(
      `tls { cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}", ca_file: "${certs.caFile}", verify: true, timeout: 2 }\n`,
    );
    await servesWith('echo-mtls', { servers: s.url, tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey } });
    // Without its certificate the server drops the connection; the host says TLS, not just "timeout".
    const noCert = await startError(
      makeHost(s.url, {
        provider: 'echo-mtls-x',
        instance: 'echo-mtls-x-0',
        nats: { servers: s.url, tls: { caFile: certs.caFile }, connectTimeoutMs: 1500 },
      }),
    );
    expect(noCert.code).toBe('NATS_TLS_FAILED');
    expect(noCert.message).toMatch(/client certificates.*certFile/);
  });
});

describe('user JWT (operator mode)', () => {
  /** The same creds file with its seed replaced by a fresh user's. */
  const swapSeed = (creds: string) => creds.replace(/SU[A-Z2-7]{56}/, new TextDecoder().decode(createUser().getSeed()));

  it('a creds file signed by the preloaded account serves; an unknown account, an expired user, a seed that is not the JWT user key, or an unreadable file is NATS_AUTH_FAILED', async () => {
    const op = operatorSetup();
    const s = await server(op.config);
    const file = (name: string, content: string) => {
      const p = join(certs.dir, `${name}.creds`);
      writeFileSync(p, content, { mode: 0o600 });
      return p;
    };
    await servesWith('echo-jwt', { servers: s.url, credsFile: file('host', op.userCreds('gantry-host')) });

    const cases: Array<[string, string]> = [
      ['stranger', file('stranger', op.strangerCreds('stranger'))],
      ['expired', file('expired', op.userCreds('expired', { exp: Math.floor(Date.now() / 1000) - 60 }))],
      ['missing', join(certs.dir, 'missing.creds')],
      ['notcreds', file('notcreds', 'just some text\n')],
      // a genuine JWT beside another user's seed: the nonce is signed by a key the JWT does not name
      ['otherseed', file('otherseed', swapSeed(op.userCreds('otherseed')))],
    ];
    const errors = await Promise.all(
      cases.map(([name, credsFile]) =>
        startError(makeHost(s.url, { provider: `echo-jwt-${name}`, instance: `echo-jwt-${name}-0`, nats: { servers: s.url, credsFile } })),
      ),
    );
    expect(errors.map((e) => e.code)).toEqual(cases.map(() => 'NATS_AUTH_FAILED'));
    expect(errors[2]!.message).toMatch(/cannot read the NATS creds file .*missing\.creds/);
    expect(errors[3]!.message).toMatch(/not a NATS creds file/);
  });
});
