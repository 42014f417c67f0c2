import { randomUUID } from 'node:crypto';
import { defineConfig } from 'vitest/config';
import { controlPlaneAvailable } from './sandbox/controlplane/binaries.js';

// Which Kubernetes API server the tests run against (test/support/apiserver.ts):
//   GANTRY_TEST_APISERVER=emulated | real | both
// Unset: both when scripts/control-plane.sh has built the real control plane, else emulated.
// Every test runs on the emulator; the suites whose behaviour depends on the server (controller,
// agent, sandbox end to end, and test/realk8s) also run on the real kube-apiserver + etcd, where
// the controller and agents hold only deploy/base's RBAC.
const requested = process.env.GANTRY_TEST_APISERVER || (controlPlaneAvailable() ? 'both' : 'emulated');
if (!['emulated', 'real', 'both'].includes(requested))
  throw new Error(`GANTRY_TEST_APISERVER=${requested}: expected emulated, real or both`);
const logLevel = process.env.GANTRY_LOG_LEVEL || 'fatal';
// the dashboard as a user held back by RBAC: only the real server has RBAC
const realOnly = ['test/realk8s/**/*.test.ts', 'test/dashboard/as-user.test.ts'];
const onBothGrounds = [
  'test/controller/**/*.test.ts',
  'test/runtime/leader.test.ts',
  // the trust policy watched by name: list+watch under deploy/base's resourceNames RBAC
  'test/api/trust-watch.test.ts',
  // who a grant's key belongs to: KeyInUse and the immutable grantee are Kubernetes claims too
  'test/membrane/grants-keys.test.ts',
  // gantry install: create-only, half states and a re-run that writes nothing, on both servers
  'test/cli/install.test.ts',
  'test/agent/**/*.test.ts',
  'test/sandbox/sandbox-e2e.test.ts',
  'test/dashboard/server.test.ts',
  // the trace test's sandbox: its controller and agents on the real API server too
  'test/observability/traces.test.ts',
  // the page against a sandbox on the real server: scale, OOM kill and narrow width as watched there
  'test/dashboard/browser.test.ts',
  // helm install/upgrade/uninstall of deploy/helm/gantry: on the real server (the emulated run says why not)
  'test/deploy/helm-install.test.ts',
  'test/deploy/helm-adopt.test.ts',
  ...realOnly,
];

// The real cluster's file (3 nodes of kubelet + containerd) runs alone, never beside the suite on
// 2 cores: `GANTRY_TEST_CLUSTER=only` (npm test's second run, npm run test:cluster) selects it and
// nothing else; otherwise it is left out. (vitest's --exclude flag does not reach a project that
// sets its own exclude, so the choice is made here.)
const clusterOnly = process.env.GANTRY_TEST_CLUSTER === 'only';
const clusterFiles = ['test/cluster/**/*.test.ts'];

const emulated = {
  extends: true as const,
  test: {
    name: 'emulated',
    include: clusterOnly ? clusterFiles : ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...realOnly, ...(clusterOnly ? [] : clusterFiles)],
    env: { GANTRY_LOG_LEVEL: logLevel, GANTRY_TEST_APISERVER: 'emulated' },
  },
};
const real = {
  extends: true as const,
  test: { name: 'real', include: onBothGrounds, env: { GANTRY_LOG_LEVEL: logLevel, GANTRY_TEST_APISERVER: 'real' } },
};

// The run's id, inherited by every worker and every process a test starts: the global
// teardown (test/support/leak-check.ts) fails the run naming any that outlive the suite.
process.env.GANTRY_TEST_RUN ??= randomUUID();

export default defineConfig({
  test: {
    // no top-level include: a project that `extends` would get it concatenated to its own
    globalSetup: ['test/support/leak-check.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real servers (nats-server, docker-registry, the API emulator,
    // kube-apiserver + etcd); two cores cannot run many of those at once without starving timers.
    maxWorkers: 2,
    pool: 'forks',
    // Many tests provoke failures on purpose (bad credentials, crashing providers); their
    // error logs would bury the report. `GANTRY_LOG_LEVEL=debug npm test` brings them back.
    env: { GANTRY_LOG_LEVEL: logLevel },
    projects: clusterOnly ? [emulated] : requested === 'both' ? [emulated, real] : requested === 'real' ? [real] : [emulated],
  },
});
