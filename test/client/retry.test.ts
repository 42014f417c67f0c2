/**
 * The caller's retry policy (client/call.ts) against a real nats-server in operator mode and
 * real provider hosts: NO_RESPONDERS, NOT_READY and OVERLOADED are retried with backoff inside
 * the one deadline; PROVIDER_ERROR and FORBIDDEN are final after one attempt, whatever the
 * retry budget. The NOT_READY/OVERLOADED answers come from a responder holding an instance's
 * own host credentials and speaking the protocol's headers, as a stopping or busy host does.
 */
import { expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { callProvider } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { HEADER_ERROR, HEADER_ERROR_MESSAGE, HEADER_INSTANCE, providerSubject } from '../../client/protocol.js';
import { formatCreds } from '../../client/creds.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { NS, callError, makeHost, providerLib, text, useHostWorld } from '../host/helpers.js';

const world = useHostWorld();

it('NO_RESPONDERS is retried until an instance subscribes, within the deadline', async () => {
  const call = callProvider(world.nc, {
    namespace: NS,
    provider: 'late',
    op: 'Echo',
    data: 'finally',
    timeoutMs: 20_000,
    retry: { retries: 200, maxDelayMs: 200 },
  });
  await new Promise((r) => setTimeout(r, 500));
  await makeHost(world.nats.url, { provider: 'late', instance: 'late-0' }).start();
  const r = await call;
  expect(text(r.reply)).toBe('finally');
  expect(r.attempts).toBeGreaterThan(1);
});

it('without a retry budget NO_RESPONDERS fails after one attempt; with one it stops at the deadline still saying NO_RESPONDERS', async () => {
  const once = await callError(callProvider(world.nc, { namespace: NS, provider: 'nobody', op: 'Echo', timeoutMs: 5000 }));
  expect([once.code, once.attempts, once.retryable]).toEqual(['NO_RESPONDERS', 1, true]);
  const many = await callError(
    callProvider(world.nc, { namespace: NS, provider: 'nobody', op: 'Echo', timeoutMs: 1500, retry: { retries: 10_000, maxDelayMs: 100 } }),
  );
  expect(many.code).toBe('NO_RESPONDERS');
  expect(many.attempts).toBeGreaterThan(1);
  expect(many.attempts).toBeLessThan(10_000);
});

it('PROVIDER_ERROR is never retried', async () => {
  await makeHost(world.nats.url, { provider: 'faulty-r', instance: 'faulty-r-0', libraryPath: providerLib('faulty') }).start();
  const err = await callError(
    callProvider(world.nc, { namespace: NS, provider: 'faulty-r', op: 'Error', timeoutMs: 10_000, retry: { retries: 20 } }),
  );
  expect([err.code, err.attempts, err.retryable]).toEqual(['PROVIDER_ERROR', 1, false]);
});

it('FORBIDDEN is never retried: a caller without a grant for the operation fails once, fast, with FORBIDDEN', async () => {
  await makeHost(world.nats.url, { provider: 'echo-f', instance: 'echo-f-0' }).start();
  const kp = createUser();
  const { jwt } = world.nats.authority.mintUser('only-get', (k) => granteePermissions(k, NS, { provider: 'echo-f' }, ['Get']), {
    userKey: kp.getPublicKey(),
  });
  const nc = await connectNats({
    servers: world.nats.url,
    credsFile: world.nats.writeCreds('only-get', formatCreds(jwt, new TextDecoder().decode(kp.getSeed()))),
  });
  try {
    const err = await callError(
      callProvider(nc, { namespace: NS, provider: 'echo-f', op: 'Echo', timeoutMs: 10_000, retry: { retries: 20 } }),
    );
    expect([err.code, err.attempts, err.retryable]).toEqual(['FORBIDDEN', 1, false]);
  } finally {
    await nc.close();
  }
});

it('NOT_READY and OVERLOADED are retried; the answers each attempt met are what a stopping, then busy, then healthy instance gives', async () => {
  const provider = 'flaky';
  const creds = world.nats.hostCreds({ namespace: NS, provider, instance: 'flaky-0' });
  const nc = await connectNats({ servers: world.nats.url, credsFile: creds });
  const base = providerSubject(NS, provider);
  const answers = ['NOT_READY', 'OVERLOADED', ''];
  const seen: string[] = [];
  const sub = nc.subscribe(`${base}.*.*`, { queue: base });
  void (async () => {
    for await (const m of sub) {
      const code = answers[Math.min(seen.length, answers.length - 1)];
      seen.push(code || 'OK');
      const h = natsHeaders();
      h.set(HEADER_INSTANCE, 'flaky-0');
      if (code) {
        h.set(HEADER_ERROR, code);
        h.set(HEADER_ERROR_MESSAGE, `flaky-0 answers ${code}`);
      }
      m.respond(code ? new Uint8Array(0) : m.data, { headers: h });
    }
  })();
  await nc.flush();
  try {
    const r = await callProvider(world.nc, {
      namespace: NS,
      provider,
      op: 'Echo',
      data: 'third time',
      timeoutMs: 10_000,
      retry: { retries: 5 },
    });
    expect([text(r.reply), r.attempts, seen]).toEqual(['third time', 3, ['NOT_READY', 'OVERLOADED', 'OK']]);

    // with connection-loss retries off, NOT_READY (the call may have run) is the caller's to handle
    seen.length = 0;
    const err = await callError(
      callProvider(world.nc, { namespace: NS, provider, op: 'Echo', timeoutMs: 10_000, retry: { retries: 5, onConnectionLoss: false } }),
    );
    expect([err.code, err.attempts, seen]).toEqual(['NOT_READY', 1, ['NOT_READY']]);
  } finally {
    await nc.close();
  }
});

it("with attemptTimeoutMs an attempt nobody answers (an instance that died with the call) is retried; an instance's own TIMEOUT is not", async () => {
  const provider = 'silent-once';
  const nc = await connectNats({
    servers: world.nats.url,
    credsFile: world.nats.hostCreds({ namespace: NS, provider, instance: 'silent-once-0' }),
  });
  const base = providerSubject(NS, provider);
  let got = 0;
  let mode = 'drop-first' as 'drop-first' | 'timeout';
  const sub = nc.subscribe(`${base}.*.*`, { queue: base });
  void (async () => {
    for await (const m of sub) {
      got++;
      const h = natsHeaders();
      h.set(HEADER_INSTANCE, 'silent-once-0');
      if (mode === 'drop-first' && got === 1) continue; // as a host killed while running the call
      if (mode === 'timeout') {
        h.set(HEADER_ERROR, 'TIMEOUT');
        h.set(HEADER_ERROR_MESSAGE, 'the native call ran past its deadline');
      }
      m.respond(mode === 'timeout' ? new Uint8Array(0) : m.data, { headers: h });
    }
  })();
  await nc.flush();
  try {
    const r = await callProvider(world.nc, {
      namespace: NS,
      provider,
      op: 'Echo',
      data: 'second try',
      timeoutMs: 10_000,
      retry: { retries: 3, attemptTimeoutMs: 500 },
    });
    expect([text(r.reply), r.attempts, got]).toEqual(['second try', 2, 2]);

    // not idempotent: the unanswered attempt may have run, so it is the caller's
    got = 0;
    const once = await callError(
      callProvider(world.nc, {
        namespace: NS,
        provider,
        op: 'Echo',
        timeoutMs: 10_000,
        retry: { retries: 3, attemptTimeoutMs: 500, onConnectionLoss: false },
      }),
    );
    expect([once.code, once.attempts, got]).toEqual(['TIMEOUT', 1, 1]);

    // an instance that answers TIMEOUT itself is slow, not gone: final
    mode = 'timeout';
    got = 0;
    const slow = await callError(
      callProvider(world.nc, { namespace: NS, provider, op: 'Echo', timeoutMs: 10_000, retry: { retries: 3, attemptTimeoutMs: 500 } }),
    );
    expect([slow.code, slow.instance, slow.attempts, got]).toEqual(['TIMEOUT', 'silent-once-0', 1, 1]);
  } finally {
    await nc.close();
  }
});
