/** What `gantry sandbox up` prints once the sandbox is up: the commands a person can try next. */
import { join } from 'node:path';
import type { Sandbox } from './sandbox.js';

export function nextSteps(sb: Pick<Sandbox, 'kubeconfigPath' | 'natsUrl' | 'stateDir'>): string {
  const k = `kubectl --kubeconfig ${sb.kubeconfigPath}`;
  return [
    '',
    'The sandbox is up. Try:',
    `  export KUBECONFIG=${sb.kubeconfigPath}`,
    `  ${k} get providers`,
    `  ${k} get providerinstances -o wide`,
    `  ${k} get nodes -L kubernetes.io/arch`,
    `  ${k} scale provider/echo --replicas=3`,
    `  ${k} describe provider echo`,
    `  npx gantry call echo Echo --data hello   # finds this sandbox's NATS (${sb.natsUrl})`,
    `  npx gantry sandbox status --state-dir ${sb.stateDir}`,
    '',
    `Logs: ${join(sb.stateDir, 'logs')}/   Stop: Ctrl-C here, or \`npx gantry sandbox down --state-dir ${sb.stateDir}\``,
  ].join('\n');
}
