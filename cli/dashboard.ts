/**
 * `gantry dashboard`: serve the live, read-only dashboard (docs/dashboard.md) on
 * http://127.0.0.1:7070/ until SIGTERM/SIGINT, acting with the user's own kubeconfig
 * (--kubeconfig, else $KUBECONFIG, else the running local sandbox's, as `gantry grant creds`).
 * Call figures come from --metrics URLs, else the local sandbox's agents when that is the
 * cluster, else the agent pods through the API server's pod proxy (as the user).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultStateDir } from '../sandbox/index.js';
import { cliError } from './keys.js';
import { collect } from './options.js';

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('serve a live, read-only web dashboard of Providers, placement, calls, logs and grants, as your own Kubernetes user')
    .option('--port <port>', 'the port to serve on (0: any free one)', '7070')
    .option('--address <addr>', 'the address to serve on; anything but loopback must be asked for explicitly', '127.0.0.1')
    .option('--kubeconfig <file>', "kubeconfig (default: $KUBECONFIG, else the running local sandbox's)")
    .option('-n, --namespace <ns>', "only this namespace's Providers, instances and grants (default: all)")
    .option('--metrics <url>', "an agent's Prometheus /metrics URL to read call figures from; repeatable", collect, [] as string[])
    .option(
      '--allowed-host <name>',
      'a host name the page may be reached by besides localhost and IP addresses; repeatable',
      collect,
      [] as string[],
    )
    .action(async (o, cmd: Command) => {
      const port = Number(o.port);
      if (!/^\d{1,5}$/.test(o.port) || port > 65535)
        throw cliError(`dashboard: --port ${JSON.stringify(o.port)}: expected a port number 0…65535`, 2);
      for (const u of o.metrics as string[]) {
        if (!/^https?:\/\/./.test(u)) throw cliError(`dashboard: --metrics ${JSON.stringify(u)}: expected an http(s):// URL`, 2);
      }
      const sandboxDir = process.env.GANTRY_SANDBOX_DIR ?? defaultStateDir();
      const sandboxKubeconfig = join(sandboxDir, 'kubeconfig');
      const kubeconfigPath: string | undefined =
        o.kubeconfig ?? (process.env.KUBECONFIG || (existsSync(sandboxKubeconfig) ? sandboxKubeconfig : undefined));
      const inCluster = !!process.env.KUBERNETES_SERVICE_HOST;
      if (!kubeconfigPath && !inCluster) {
        throw cliError(
          'dashboard: no kubeconfig: pass --kubeconfig FILE, set $KUBECONFIG, or start a local sandbox (`gantry sandbox up`)',
          2,
        );
      }
      const { loadKubeConfig } = await import('../runtime/kube.js');
      const kubeConfig = loadKubeConfig({ kubeconfigPath });
      let metricsUrls = (o.metrics as string[]).map((url, k) => ({ name: `metrics-${k + 1}`, url }));
      if (!metricsUrls.length && kubeconfigPath && resolve(kubeconfigPath) === resolve(sandboxKubeconfig)) {
        const { sandboxStatus } = await import('../sandbox/index.js');
        const st = await sandboxStatus(sandboxDir);
        metricsUrls = st.metrics.filter((m) => m.name.startsWith('agent-'));
      }
      const { startDashboard } = await import('../dashboard/index.js');
      const d = await startDashboard({
        kubeConfig,
        port,
        address: o.address,
        addressExplicit: cmd.getOptionValueSource('address') === 'cli',
        allowedHosts: o.allowedHost,
        namespace: o.namespace,
        metricsUrls,
      });
      process.stdout.write(`${d.url}\n`);
      process.stderr.write(
        `gantry dashboard: serving ${d.url} as ${kubeConfig.getCurrentUser()?.name ?? 'the in-cluster service account'} on ${kubeConfig.getCurrentCluster()?.server}; Ctrl-C stops\n`,
      );
      await new Promise<void>((done) => {
        const onSignal = () => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          d.stop().then(done, done);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });
}
