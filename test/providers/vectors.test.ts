/**
 * The same operation vectors (test/vectors/*.json) against every implementation of a
 * capability: the C keyvalue and the Rust keyvalue-rs, the C echo and the Go echo-go. Each
 * runs the steps in order on its own instance (loaded with the host's loader) and must answer
 * every step with the vector's status and exactly its bytes — so a provider rewritten with an
 * SDK is a drop-in replacement for the C one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NativeProvider } from '../../agent/host/native.js';
import { packageRoot } from '../../runtime/paths.js';
import { buildProviders, providerLib } from '../host/helpers.js';

interface Step {
  op: string;
  payload?: string;
  payloadHex?: string;
  status: number;
  reply?: string;
  replyHex?: string;
}
interface Vectors {
  capid: string;
  config: Record<string, unknown>;
  implementations: string[];
  steps: Step[];
}

const load = (name: string) => JSON.parse(readFileSync(join(packageRoot(), 'test', 'vectors', `${name}.json`), 'utf8')) as Vectors;
const bytes = (text: string | undefined, hex: string | undefined) =>
  hex !== undefined ? Buffer.from(hex, 'hex') : Buffer.from(text ?? '', 'utf8');

beforeAll(() => buildProviders());

for (const capability of ['keyvalue', 'echo']) {
  const v = load(capability);
  describe(`${capability} vectors (${v.steps.length} steps)`, () => {
    it('cover successes, provider errors and unknown operations', () => {
      const statuses = new Set(v.steps.map((s) => s.status));
      expect(statuses.has(0)).toBe(true);
      expect(statuses.has(3)).toBe(true);
      expect(v.implementations.length).toBeGreaterThanOrEqual(2);
    });

    it.each(v.implementations)('%s answers every step byte for byte', (impl) => {
      const provider = NativeProvider.load(providerLib(impl));
      expect(provider.capabilityId).toBe(v.capid);
      provider.configure(v.config);
      const got = v.steps.map((s) => {
        const r = provider.callSync('vector-actor', s.op, bytes(s.payload, s.payloadHex));
        return { status: r.status, reply: Buffer.from(r.body).toString('hex') };
      });
      const want = v.steps.map((s) => ({ status: s.status, reply: bytes(s.reply, s.replyHex).toString('hex') }));
      // Compare step by step first, so a failure names the step.
      for (const [i, s] of v.steps.entries())
        expect({ step: i, op: s.op.slice(0, 40), ...got[i] }).toEqual({ step: i, op: s.op.slice(0, 40), ...want[i] });
    });
  });
}
