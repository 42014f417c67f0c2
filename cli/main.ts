/**
 * `gantry` — one command for every part: keys, archives (par), calls, the local sandbox,
 * the controller and the node agent. Each group lives in its own file and registers itself.
 * Exit statuses: 0 ok, 1 the thing asked about failed (e.g. an archive failed verification),
 * 2 usage errors, 3 an unexpected internal error.
 */
import { CommanderError } from 'commander';
import { gantryProgram } from './program.js';

const program = gantryProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version exit 0; everything else commander reports is a usage error
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const e = err as Error & { exitCode?: number };
  process.stderr.write(`gantry: ${e.message}\n`);
  process.exit(typeof e.exitCode === 'number' ? e.exitCode : 3);
}
