/**
 * Time from a change of a Provider's config to every instance using it, at 1 and at 100
 * instances, on the API emulator with an in-process controller (the real reconcile, GET-only
 * config cache and rollout): the baseline is an inline `spec.config` change (the Provider's own
 * watch event starts the rollout); the measured one is rotating a Secret named in
 * `spec.configFrom` (noticed only when the config cache's read goes stale: `--config-ref-ttl`,
 * default 10 s). "Using it" = every instance is of the new template, Running (agents played by
 * a loop here, which marks each new instance Running at once), and its new value handed to the
 * SecretConfigWriter. Budgets 25 %/25 % (surge 1 for one instance). Prints JSON, with the
 * rotation/baseline ratio: the rest of the rollout is the same machinery in both.
 *
 *   npm run build && node dist/bench/secret-rotation.js [--sizes 1,100] [--ttl 10s]
 */
import { parseArgs } from 'node:util';
import { startApiServer } from '../apiserver/index.js';
import { startController } from '../controller/index.js';
import type { SecretConfigWriter } from '../controller/providers/secret-config.js';
import { KubeClient, loadKubeConfig } from '../runtime/kube.js';
import { createNodes, parallel, setUpCluster } from './scheduling/cluster.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1,100' }, ttl: { type: 'string', default: '10s' } } });
const SIZES = values.sizes.split(',').map(Number);
const TTL_MS = Number.parseFloat(values.ttl) * (values.ttl.endsWith('ms') ? 1 : 1000);
const NS = 'bench';
const b64 = (s: string) => Buffer.from(s).toString('base64');

const layout = mkdtempSync(join(tmpdir(), 'gantry-bench-rotation-'));
const api = await startApiServer({ port: 0 });
const client = new KubeClient(loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml }));
const { ref, issuer } = await setUpCluster(client, layout);
await createNodes(client, Math.max(...SIZES));

/** instance name → the password value last sealed for it */
const sealed = new Map<string, string>();
const writer: SecretConfigWriter = {
  async ensure(inst, values) {
    sealed.set(inst.metadata.name, values.password ?? '');
  },
};
const ctl = await startController({
  kubeConfig: loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml }),
  namespace: 'gantry-system',
  trustedIssuers: [issuer],
  agentLeaseGraceMs: 3_600_000, // the bench's Leases are never renewed
  configRefTtlMs: TTL_MS,
  secretConfig: writer,
  leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
});

const instPath = `/apis/gantry.dev/v1alpha1/namespaces/${NS}/providerinstances`;
let agentsOn = true;
/** The agents: every instance not yet Running is marked Running. */
const agents = (async () => {
  while (agentsOn) {
    const l = await client.list(instPath);
    const pending = l.items.filter((i: any) => i.status?.phase !== 'Running' && !i.metadata.deletionTimestamp);
    await parallel(pending.length, 16, (k) =>
      client.mergePatch(`${instPath}/${pending[k].metadata.name}/status`, { status: { phase: 'Running' } }).catch(() => {}),
    );
    await new Promise((r) => setTimeout(r, 20));
  }
})();

/** Resolves when every instance of `name` is of a new template (not `before`), Running, and `ok` holds for each. */
async function everyInstance(name: string, n: number, before: string, ok: (i: any) => boolean): Promise<void> {
  for (;;) {
    const l = (await client.list(instPath, { labelSelector: `gantry.dev/provider=${name}` })).items.filter(
      (i: any) => !i.metadata.deletionTimestamp,
    );
    if (
      l.length === n &&
      l.every((i: any) => i.metadata.labels?.['gantry.dev/template-hash'] !== before && i.status?.phase === 'Running' && ok(i))
    )
      return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const hashOf = async (name: string) =>
  (await client.get(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers/${name}`)).status?.templateHash;

const results = [];
for (const n of SIZES) {
  const name = `rot-${n}`;
  const secretPath = `/api/v1/namespaces/${NS}/secrets`;
  await client.create(secretPath, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { password: b64('v0') } });
  await client.create(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers`, {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'Provider',
    metadata: { name, namespace: NS },
    spec: {
      archive: { ref, revision: 1 },
      replicas: n,
      configFrom: [{ secretRef: { name } }],
      config: { round: 0 },
      rollout: { maxSurge: '25%', maxUnavailable: '25%' },
    },
  });
  await everyInstance(name, n, '', (i) => sealed.get(i.metadata.name) === 'v0');

  // baseline: an inline config change
  let before = await hashOf(name);
  let t0 = performance.now();
  await client.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers/${name}`, { spec: { config: { round: 1 } } });
  await everyInstance(name, n, before, (i) => i.spec.config?.round === 1);
  const configChangeSeconds = (performance.now() - t0) / 1000;

  // measured: rotating the referenced Secret
  before = await hashOf(name);
  t0 = performance.now();
  await client.mergePatch(`${secretPath}/${name}`, { data: { password: b64('v1') } });
  await everyInstance(name, n, before, (i) => sealed.get(i.metadata.name) === 'v1');
  const secretRotationSeconds = (performance.now() - t0) / 1000;
  results.push({
    instances: n,
    configRefTtlMs: TTL_MS,
    configChangeSeconds: +configChangeSeconds.toFixed(2),
    secretRotationSeconds: +secretRotationSeconds.toFixed(2),
    ratio: +(secretRotationSeconds / configChangeSeconds).toFixed(2),
  });
}

agentsOn = false;
await agents;
await ctl.stop();
client.close();
await api.stop();
rmSync(layout, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ bench: 'secret-rotation', ground: 'emulated', results }, null, 2)}\n`);
