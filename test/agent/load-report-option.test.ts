/** startAgent's loadReportMs (`--load-report-interval`): a usage error before anything starts, with its own code. */
import { describe, expect, it } from 'vitest';
import { agentSettings, type AgentOptions } from '../../agent/options.js';
import type { KubeConfig } from '../../runtime/kube.js';

const base: AgentOptions = { kubeConfig: {} as KubeConfig, node: 'n1', natsUrl: 'nats://127.0.0.1:1', maxInstances: 8 };

describe('loadReportMs', () => {
  it.each([-1, 1.5, Number.NaN, Infinity])('refuses %s with AGENT_BAD_LOAD_REPORT_INTERVAL', (bad) => {
    expect(() => agentSettings({ ...base, loadReportMs: bad })).toThrow(
      expect.objectContaining({
        code: 'AGENT_BAD_LOAD_REPORT_INTERVAL',
        message: `gantry agent: the load report interval must be a whole number of ms ≥ 0, not "${bad}"`,
      }),
    );
  });

  it.each([0, 1, 1000, undefined])('takes %s (0 turns reports off; none is the default)', (ok) => {
    expect(agentSettings({ ...base, loadReportMs: ok }).node).toBe('n1');
  });
});
