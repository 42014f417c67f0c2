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

watchParent(); // a sandbox child stops when its launcher dies, even by SIGKILL

const program = gantryProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version exit 0; everything else commander reports is a usage error
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`gantry: ${(err as Error).message}\n`);
  process.exit(exitStatus(err));
}
