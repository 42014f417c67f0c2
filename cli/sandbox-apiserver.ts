/**
 * `gantry sandbox apiserver --port N --state-dir DIR`: run the Kubernetes API emulator on its
 * own, writing DIR/kubeconfig for kubectl and client-node, until SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { logger } from '../runtime/log.js';

export function registerApiserverCommand(sandbox: Command): void {
  sandbox
    .command('apiserver')
    .description('run the Kubernetes API emulator (HTTPS on loopback; writes STATE_DIR/kubeconfig)')
    .option('--port <port>', 'TCP port (0 = a free port)', '6443')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--state-dir <dir>', 'where objects, TLS material and the kubeconfig are kept', '.gantry/apiserver')
    .option('--token <token>', 'bearer token clients must send (default: generated, kept in the state dir)')
    .action(async (o: { port: string; host: string; stateDir: string; token?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw Object.assign(new Error(`--port must be an integer between 0 and 65535, got "${o.port}"`), { exitCode: 2 });
      }
      const { startApiServer } = await import('../apiserver/index.js');
      const log = logger('apiserver');
      const api = await startApiServer({ port, host: o.host, stateDir: o.stateDir, token: o.token });
      log.info({ url: api.url, kubeconfig: api.kubeconfigPath }, 'API emulator listening');
      process.stdout.write(`API emulator listening on ${api.url}\nkubeconfig: ${api.kubeconfigPath}\n`);
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await api.stop();
      log.info('API emulator stopped');
    });
}
