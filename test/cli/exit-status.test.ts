import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exitStatus } from '../../cli/exit-status.js';
import { GantryError, UsageError } from '../../runtime/errors.js';
import { loadKubeConfig } from '../../runtime/kube.js';
import { parseListenAddr } from '../../runtime/metrics-server.js';
import { startAgent } from '../../agent/index.js';

const thrown = async (fn: () => unknown) => {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
};

describe('exit statuses come from typed errors, mapped only in cli/', () => {
  it('a usage error exits 2, a failure 1, anything unexpected 3', async () => {
    const missing = await thrown(() => loadKubeConfig({ kubeconfigPath: join(tmpdir(), 'gantry-no-such-kubeconfig') }));
    expect(missing).toBeInstanceOf(UsageError);
    expect(missing).toMatchObject({ code: 'KUBECONFIG_NOT_FOUND' });
    const bad = join(tmpdir(), `gantry-bad-kubeconfig-${process.pid}`);
    writeFileSync(bad, 'apiVersion: v1\nkind: Config\nclusters: []\n');
    expect(await thrown(() => loadKubeConfig({ kubeconfigPath: bad }))).toMatchObject({ code: 'KUBECONFIG_INVALID', name: 'UsageError' });
    expect(await thrown(() => parseListenAddr('host:'))).toMatchObject({ code: 'BAD_LISTEN_ADDR' });
    expect(await thrown(() => startAgent({ node: '', natsUrl: 'nats://x' } as any))).toMatchObject({
      code: 'AGENT_NO_NODE',
      name: 'UsageError',
    });
    expect(exitStatus(missing)).toBe(2);
    expect(exitStatus(new GantryError('CRDS_MISSING', 'x'))).toBe(1);
    expect(exitStatus(Object.assign(new Error('cli'), { exitCode: 1 }))).toBe(1);
    expect(exitStatus(new TypeError('bug'))).toBe(3);
  });
});
