/**
 * The provider host keeps an instance's secret config values out of its own messages
 * (agent/host/main.ts with agent/host/redact.ts): whatever fails — a provider's configure error
 * quoting its config, here a load error quoting the library path — reaches the supervisor, and
 * so the instance's status and the logs, with each value of `spec.secretKeys` replaced. A real
 * host process; the same failure without secretKeys shows the value would otherwise pass.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { HostError } from '../../agent/host/index.js';
import { makeHost, startError, stopAllHosts } from '../host/helpers.js';

const CANARY = 'canary-pw-host-91ac';

afterAll(stopAllHosts);

describe("a host's failure messages", () => {
  it('never quote a secret config value; the same failure without secretKeys does (the control)', async () => {
    const spec = {
      provider: 'p',
      libraryPath: `/nonexistent/${CANARY}/echo.so`,
      config: { password: CANARY, user: 'app' },
    };
    const redacted: HostError = await startError(
      makeHost('nats://127.0.0.1:1', { ...spec, instance: 'redacted', secretKeys: ['password'] }),
    );
    expect(redacted.message).not.toContain(CANARY);
    expect(redacted.message).toContain('/nonexistent/[redacted]/echo.so');
    const control: HostError = await startError(makeHost('nats://127.0.0.1:1', { ...spec, instance: 'control' }));
    expect(control.code).toBe(redacted.code);
    expect(control.message).toContain(CANARY);
  });
});
