/**
 * `gantry` — one command for every part: keys, archives (par), calls, the local sandbox,
 * the controller and the node agent. Each group lives in its own file and registers itself.
 * Exit statuses: 0 ok, 1 the thing asked about failed (e.g. an archive failed verification),
 * 2 usage errors, 3 an unexpected internal error.
 */
import { CommanderError } from 'commander';
import { gantryProgram } from './program.js';
import { exitStatus } from './exit-status.js';
import { watchParent } from '../runtime/parent-watch.js';
import { TracingConfigError } from '../runtime/tracing/config.js';
import { startTracing, type Tracing } from '../runtime/tracing/setup.js';

watchParent(); // a sandbox child stops when its launcher dies, even by SIGKILL

/** The service a process traces as: the long-running parts by their own name, every other command as the CLI. */
function component(argv: string[]): string {
  const command = argv[2];
  if (command === 'agent') return 'gantry-agent';
  if (command === 'controller') return 'gantry-controller';
  return 'gantry-cli';
}

async function exit(tracing: Tracing | undefined, status: number): Promise<never> {
  // a short command's spans are still in the batch: send them before the process is gone
  await tracing?.shutdown();
  process.exit(status);
}

let tracing: Tracing | undefined;
try {
  // off (no OTEL_* asking for traces) this loads nothing beyond @opentelemetry/api
  tracing = await startTracing(component(process.argv));
  await gantryProgram().parseAsync(process.argv);
  // every command has finished here (the long-running ones return on SIGTERM). The OTLP
  // exporter keeps retrying an unreachable collector on timers of its own (~8 s, measured on
  // `gantry call`): once its bounded shutdown is over, nothing of ours is left to wait for
  if (tracing.enabled) await exit(tracing, typeof process.exitCode === 'number' ? process.exitCode : 0);
  await tracing.shutdown();
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version exit 0; everything else commander reports is a usage error
    await exit(tracing, err.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`gantry: ${(err as Error).message}\n`);
  // an OTEL_* value Gantry cannot honour is a usage error naming the variable
  await exit(tracing, err instanceof TracingConfigError ? 2 : exitStatus(err));
}
