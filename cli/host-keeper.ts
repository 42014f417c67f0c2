/**
 * `gantry host-keeper` — run the node's host keeper in the foreground (agent/keeper/server.ts):
 * the parent of every provider host on the node, outliving agents, which reach it over a Unix
 * socket. SIGTERM/SIGINT stop every host gracefully.
 */
import type { Command } from 'commander';
import { parseDuration } from './options.js';

export function registerHostKeeper(program: Command): void {
  program
    .command('host-keeper')
    .description("run the node's host keeper: the provider hosts live here, so an agent can be replaced without them")
    .requiredOption('--socket <path>', 'the Unix socket the agent connects to (made 0600, its directory 0700)')
    .option('--node <name>', "this node's name (default: $NODE_NAME)")
    .option('--orphan-grace <duration>', 'stop the hosts after this long without an agent (0: never)', '120s')
    .option('--records <dir>', "where the hosts' pids are recorded, reaped by the next keeper (default: hosts/ beside the socket)")
    .option('--host-pool <n>', 'provider host processes kept started and idle (0: fork on demand)', '2')
    .option(
      '--host-cgroup <dir>',
      'a writable memory cgroup directory each host is capped in (default: $GANTRY_HOST_CGROUP, else RSS polling)',
    )
    .action(async (o) => {
      const node = o.node ?? process.env.NODE_NAME;
      if (!node) throw Object.assign(new Error('host-keeper: no node name; pass --node NAME or set NODE_NAME'), { exitCode: 2 });
      const orphanGraceMs = parseDuration(o.orphanGrace, '--orphan-grace');
      const hostPoolSize = Number(o.hostPool);
      if (!Number.isInteger(hostPoolSize) || hostPoolSize < 0 || hostPoolSize > 64)
        throw Object.assign(new Error(`host-keeper: --host-pool ${o.hostPool}: a whole number from 0 to 64`), { exitCode: 2 });
      const cgroupDir = o.hostCgroup ?? (process.env.GANTRY_HOST_CGROUP || undefined);
      // loaded on use: the keeper needs no Kubernetes client
      const { HostKeeper } = await import('../agent/keeper/server.js');
      const { MemoryCgroupParent } = await import('../agent/host/memory-cgroup-dir.js');
      const memoryCgroup = cgroupDir ? MemoryCgroupParent.open(cgroupDir, node) : undefined;
      const keeper = new HostKeeper({ socketPath: o.socket, node, orphanGraceMs, hostPoolSize, memoryCgroup, recordsDir: o.records });
      await keeper.listen();
      process.stderr.write(`gantry host-keeper: node ${node}, listening on ${o.socket}\n`);
      await new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          process.stderr.write(`gantry host-keeper: ${sig}, stopping provider hosts\n`);
          keeper.close().then(resolve, resolve);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
    });
}
