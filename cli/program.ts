/**
 * The `gantry` command tree, built without running it: cli/main.ts parses argv with it, and the
 * docs test walks it to check that every command and flag the README and docs/ show exists.
 */
import { Command } from 'commander';
import { registerKeys } from './keys.js';
import { registerPar } from './par.js';
import { registerCall } from './call.js';
import { registerSandbox } from './sandbox.js';
import { registerController } from './controller.js';
import { registerAgent } from './agent.js';
import { registerHostKeeper } from './host-keeper.js';
import { registerVersion, versionLine } from './version.js';
import { registerAbi } from './abi.js';
import { registerMembrane } from './membrane.js';
import { registerInstall } from './install.js';
import { registerLock } from './lock.js';
import { registerLog } from './log.js';
import { registerLogMonitor } from './log-monitor.js';
import { registerRollout } from './rollout.js';
import { registerDashboard } from './dashboard.js';

export function gantryProgram(): Command {
  const program = new Command('gantry')
    .description('Run native capability providers (Provider Archives) on Kubernetes')
    .version(versionLine(), '-V, --version', 'print the version, commit, provider ABI and API version')
    .exitOverride()
    .showHelpAfterError(false);
  registerKeys(program);
  registerPar(program);
  registerCall(program);
  registerSandbox(program);
  registerController(program);
  registerAgent(program);
  registerHostKeeper(program);
  registerVersion(program);
  registerAbi(program);
  registerMembrane(program);
  registerInstall(program);
  registerLock(program);
  registerRollout(program);
  registerLog(program);
  registerDashboard(program);
  registerLogMonitor(program.commands.find((c) => c.name() === 'log')!);
  return program;
}
