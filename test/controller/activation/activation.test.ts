/**
 * Activation from zero with every part real (test/controller/activation/world.ts): a call to
 * a Provider at 0 replicas (spec.autoscale from zero) asks the controller's responder to
 * activate it, the autoscaler scales it 0→1 through the scale subresource, the agent starts a
 * host, and the call is answered within its own deadline. The membrane decides who may wake what: each attack
 * below fails with its own code, and the Provider stays at zero.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { requestActivation } from '../../../client/activate.js';
import { HEADER_ACTIVATION } from '../../../client/activation.js';
import { CallError, callProvider, type CallOptions } from '../../../client/call.js';
import { HEADER_ERROR, HEADER_ERROR_MESSAGE } from '../../../client/protocol.js';
import { packageRoot } from '../../../runtime/paths.js';
import { text } from '../../host/helpers.js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { registerTracing } from '../../../runtime/tracing/index.js';
import { ActivationWorld, APP, providersPath } from './world.js';

const run = promisify(execFile);
const w = new ActivationWorld();
const LONG = 60_000; // a deadline no start on a loaded machine runs past

async function callError(p: Promise<unknown>): Promise<CallError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof CallError)) throw new Error(`expected a CallError, got ${e}`);
  return e;
}

const echo = (provider: string, extra: Partial<CallOptions> = {}): CallOptions => ({
  namespace: APP,
  provider,
  op: 'Echo',
  data: `hello ${provider}`,
  timeoutMs: LONG,
  ...extra,
});

beforeAll(async () => {
  await w.start();
  await w.provider('woken');
  await w.provider('crowd');
  await w.provider('burst', { resources: { maxInFlight: 1 } });
  await w.provider('late', { nodeSelector: { pool: 'none-yet' } });
  await w.provider('asleep');
  await w.provider('blue', { linkName: 'blue' });
  await w.provider('manual', {}, false);
  await w.provider('traced');
}, 240_000);

afterAll(() => w.stop(), 120_000);

describe('a call to a Provider at zero', () => {
  it('is answered by the instance its activation started, and the reply names it', async () => {
    const g = w.grantee({ provider: 'woken' });
    const nc = await w.connect(g.creds);
    const res = await callProvider(nc, echo('woken'));
    expect(text(res.reply)).toBe('hello woken');
    const instances = (await w.admin.list(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`)).items as any[];
    const mine = instances.filter((i) => i.spec.provider === 'woken').map((i) => i.metadata.name);
    expect(mine).toEqual([res.instance]);
    expect(await w.replicas('woken')).toBe(1);
    expect(await w.activatedBy('woken')).toEqual([g.key]);
  }, 120_000);

  it('from many callers at once is activated once, and every call is answered', async () => {
    const callers = await Promise.all([0, 1, 2, 3].map(() => w.connect(w.grantee({ provider: 'crowd' }).creds)));
    const replies = await Promise.all(callers.map((nc, i) => callProvider(nc, echo('crowd', { data: `caller ${i}` }))));
    expect(replies.map((r) => text(r.reply))).toEqual(['caller 0', 'caller 1', 'caller 2', 'caller 3']);
    expect(await w.activations('crowd')).toBe(1);
  }, 120_000);

  it('from a burst larger than the woken instance takes at once is served whole: calls refused OVERLOADED after the activation are sent again', async () => {
    // one call in flight at a time: the 30 callers woken together meet the limit at once
    const nc = await w.connect(w.grantee({ provider: 'burst' }).creds);
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => callProvider(nc, echo('burst', { data: `caller ${i}` }))));
    expect(replies.map((r) => text(r.reply))).toEqual(Array.from({ length: 30 }, (_, i) => `caller ${i}`));
    expect(await w.activations('burst')).toBe(1);
  }, 120_000);

  it('addressed by capability activates the Provider serving that capability and link', async () => {
    const nc = await w.connect(w.grantee({ capabilityId: 'gantry:echo', linkName: 'blue' }).creds);
    const res = await callProvider(nc, {
      namespace: APP,
      capid: 'gantry:echo',
      link: 'blue',
      op: 'Echo',
      data: 'by capability',
      timeoutMs: LONG,
    });
    expect(text(res.reply)).toBe('by capability');
    expect(res.instance).toMatch(/^blue-/);
    expect(await w.activations('blue')).toBe(1);
    expect(await w.replicas('asleep')).toBe(0); // it serves the capability on link default, not blue
  }, 120_000);

  it('that cannot start within its deadline fails TIMEOUT, and the activation is not lost: the next call is answered', async () => {
    const nc = await w.connect(w.grantee({ provider: 'late' }).creds);
    // no node matches its selector yet: activated, it cannot be Ready before the deadline
    const e = await callError(callProvider(nc, echo('late', { timeoutMs: 3000 })));
    expect(e.code).toBe('TIMEOUT');
    expect(e.activation).toBe('TIMEOUT');
    expect(e.message).toMatch(/provider apps\/late was not activated/);
    expect(await w.replicas('late')).toBe(1);
    await w.admin.mergePatch(providersPath('late'), { spec: { nodeSelector: null } });
    const res = await callProvider(nc, echo('late'));
    expect(text(res.reply)).toBe('hello late');
    expect(await w.activations('late')).toBe(1);
  }, 120_000);
});

describe('what activation refuses, each with its own reason', () => {
  it('a caller granted another Provider cannot wake this one: the membrane refuses the call and the activation (FORBIDDEN), and it stays at zero', async () => {
    const g = w.grantee({ provider: 'woken' });
    const nc = await w.connect(g.creds);
    const call = await callError(callProvider(nc, echo('asleep')));
    expect(call.code).toBe('FORBIDDEN');
    // the attack on the activation subject itself, with its own key and with another's
    const own = await callError(requestActivation(nc, { namespace: APP, provider: 'asleep' }, g.key, 5000));
    expect(own.code).toBe('FORBIDDEN');
    expect(own.message).toMatch(/no grant to activate provider apps\/asleep/);
    const other = w.grantee({ provider: 'asleep' });
    const spoofed = await callError(requestActivation(nc, { namespace: APP, provider: 'asleep' }, other.key, 5000));
    expect(spoofed.code).toBe('FORBIDDEN');
    expect(await w.activations('asleep')).toBe(0);
    expect(await w.replicas('asleep')).toBe(0);
  });

  it('a caller granted a capability cannot wake a Provider by name, nor another link', async () => {
    const g = w.grantee({ capabilityId: 'gantry:echo', linkName: 'green' });
    const nc = await w.connect(g.creds);
    expect((await callError(requestActivation(nc, { namespace: APP, provider: 'asleep' }, g.key, 5000))).code).toBe('FORBIDDEN');
    const otherLink = await callError(requestActivation(nc, { namespace: APP, capid: 'gantry:echo', link: 'default' }, g.key, 5000));
    expect(otherLink.code).toBe('FORBIDDEN');
    expect(await w.replicas('asleep')).toBe(0);
  });

  it('NOT_FOUND: no such Provider, or no Provider serving the capability — NO_RESPONDERS with the reason', async () => {
    const nc = await w.connect(w.grantee({ provider: 'ghost' }).creds);
    const e = await callError(callProvider(nc, echo('ghost', { retry: 3 })));
    expect(e.code).toBe('NO_RESPONDERS');
    expect(e.activation).toBe('NOT_FOUND');
    expect(e.message).toMatch(/activating it failed: NOT_FOUND: Provider apps\/ghost does not exist/);
    expect(e.retryable).toBe(false);
    expect(e.attempts).toBe(1); // a target that cannot be woken is not retried
    const cap = await w.connect(w.grantee({ capabilityId: 'acme:none' }).creds);
    const c = await callError(callProvider(cap, { namespace: APP, capid: 'acme:none', op: 'Echo', timeoutMs: LONG }));
    expect(c.activation).toBe('NOT_FOUND');
    expect(c.message).toMatch(/no Provider in namespace apps serves capability acme:none on link default/);
  });

  it('NOT_ACTIVATABLE: a Provider without autoscale stays at zero — NO_RESPONDERS with the reason', async () => {
    const nc = await w.connect(w.grantee({ provider: 'manual' }).creds);
    const e = await callError(callProvider(nc, echo('manual')));
    expect(e.code).toBe('NO_RESPONDERS');
    expect(e.activation).toBe('NOT_ACTIVATABLE');
    expect(e.message).toMatch(/NOT_ACTIVATABLE: Provider apps\/manual has no spec.autoscale/);
    expect(await w.replicas('manual')).toBe(0);
  });

  it('BAD_REQUEST: a subject that names no target, or a timeout that is not one', async () => {
    const admin = await w.connect(w.nats.adminCreds);
    const bad = await admin.request(`gantry.${APP}.activate.bogus.x`, '', { timeout: 5000 });
    expect(bad.headers?.get(HEADER_ERROR)).toBe('BAD_REQUEST');
    expect(bad.headers?.get(HEADER_ERROR_MESSAGE)).toMatch(/names no target/);
    const h = natsHeaders();
    h.set('Gantry-Timeout-Ms', 'soon');
    const badTimeout = await admin.request(`gantry.${APP}.activate.provider.asleep.anyone`, '', { timeout: 5000, headers: h });
    expect(badTimeout.headers?.get(HEADER_ERROR)).toBe('BAD_REQUEST');
    expect(badTimeout.headers?.has(HEADER_ACTIVATION)).toBe(false);
    expect(await w.replicas('asleep')).toBe(0);
  });

  it('activate: false fails NO_RESPONDERS at once, without asking', async () => {
    const nc = await w.connect(w.grantee({ provider: 'asleep' }).creds);
    const e = await callError(callProvider(nc, echo('asleep', { activate: false })));
    expect(e.code).toBe('NO_RESPONDERS');
    expect(e.activation).toBeUndefined();
    expect(await w.activations('asleep')).toBe(0);
  });

  it('`gantry call --no-activate` fails NO_RESPONDERS (exit 1) without asking', async () => {
    const g = w.grantee({ provider: 'asleep' });
    const args = [
      'call',
      '-n',
      APP,
      'asleep',
      'Echo',
      '--nats',
      w.nats.url,
      '--creds',
      g.creds,
      '--json',
      '--no-activate',
      '--timeout',
      '60000',
    ];
    const r = await run(process.execPath, [join(packageRoot(), 'bin', 'gantry.js'), ...args]).catch((e) => e);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'NO_RESPONDERS' });
    expect(JSON.parse(r.stdout).activation).toBeUndefined();
    expect(await w.activations('asleep')).toBe(0);
  });

  it('with no controller on the bus, NO_RESPONDERS says that no activator answered; a controller that starts again answers', async () => {
    await w.stopController();
    const g = w.grantee({ provider: 'asleep' });
    const nc = await w.connect(g.creds);
    const e = await callError(callProvider(nc, echo('asleep')));
    expect(e.code).toBe('NO_RESPONDERS');
    expect(e.activation).toBe('NO_ACTIVATOR');
    expect(e.message).toMatch(/no activator answered/);
    const cli = await run(process.execPath, [
      join(packageRoot(), 'bin', 'gantry.js'),
      ...['call', '-n', APP, 'asleep', 'Echo', '--nats', w.nats.url, '--creds', g.creds, '--json'],
    ]).catch((err) => err);
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({ error: 'NO_RESPONDERS', activation: 'NO_ACTIVATOR' });
    await w.startController();
    // `gantry call` activates by default: answered from zero, within --timeout
    const woken = await run(process.execPath, [
      join(packageRoot(), 'bin', 'gantry.js'),
      ...[
        'call',
        '-n',
        APP,
        'asleep',
        'Echo',
        '--data',
        'from the CLI',
        '--nats',
        w.nats.url,
        '--creds',
        g.creds,
        '--json',
        '--timeout',
        '60000',
      ],
    ]);
    const answer = JSON.parse(woken.stdout);
    expect(answer.reply).toBe('from the CLI');
    expect(answer.instance).toMatch(/^asleep-/);
    expect(await w.activatedBy('asleep')).toEqual([g.key]);
  }, 120_000);
});

describe("an activation in the call's trace (tracing on in this process: the caller and the in-process controller)", () => {
  it("the controller's gantry.activate is a child of the caller's gantry.call; a refused one carries its code", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = await registerTracing(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
    try {
      const nc = await w.connect(w.grantee({ provider: 'traced' }).creds);
      await callProvider(nc, echo('traced'));
      const spans = exporter.getFinishedSpans();
      const call = spans.find((s) => s.name === 'gantry.call' && s.attributes['gantry.provider'] === 'traced');
      const activate = spans.find((s) => s.name === 'gantry.activate' && s.attributes['gantry.provider'] === 'traced');
      expect(call?.kind).toBe(SpanKind.CLIENT);
      expect(activate?.kind).toBe(SpanKind.SERVER);
      expect(activate?.spanContext().traceId).toBe(call?.spanContext().traceId);
      expect(activate?.parentSpanContext?.spanId).toBe(call?.spanContext().spanId);
      expect(activate?.attributes['gantry.instance']).toMatch(/^traced-/);

      exporter.reset();
      const g = w.grantee({ provider: 'nobody-here' });
      const refused = await callError(callProvider(await w.connect(g.creds), echo('nobody-here', { timeoutMs: 10_000 })));
      expect(refused.code).toBe('NO_RESPONDERS');
      const failed = exporter.getFinishedSpans().find((s) => s.name === 'gantry.activate');
      expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'NOT_FOUND' });
      expect(failed?.attributes['gantry.call.code']).toBe('NOT_FOUND');
    } finally {
      await tracing.shutdown();
    }
  }, 120_000);
});
