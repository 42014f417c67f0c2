/**
 * The chaos run's faults: each kills one part of the sandbox with SIGKILL and names what it
 * killed and what the run restarts after `downMs` (a host is restarted by its host keeper).
 */
import { sleep } from './load.js';
import type { Scenario } from './scenario.js';
import { hostsOn, leaseHolder } from './watch.js';

export const FAULT_KINDS = ['host', 'agent', 'controller', 'nats', 'registry'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface InjectedFault {
  /** what was killed, for people */
  target: string;
  /** the sandbox process to restart after the down time, if the run restarts it */
  restart?: string;
  /** controller: seconds from the kill until the standby held the leader Lease (null: not within the timeout) */
  failover?: Promise<number | null>;
}

/** Kills the part `kind` names (on `node` where it is per node). */
export async function injectFault(kind: FaultKind, node: string, s: Scenario, recoveryTimeoutMs: number): Promise<InjectedFault> {
  const { sb, kube, conns } = s;
  const procs = sb.processes();
  const kill = (name: string) => {
    const pid = procs[name];
    if (pid === undefined) throw new Error(`chaos: ${name} is not running`);
    process.kill(pid, 'SIGKILL');
    return pid;
  };
  if (kind === 'host') {
    // a host serving an instance, not an idle one waiting in the agent's pool
    const pids = hostsOn(sb.stateDir, node).serving;
    if (!pids.length) throw new Error(`chaos: no provider host serves on ${node}`);
    process.kill(pids[0], 'SIGKILL');
    return { target: `provider host pid ${pids[0]} on ${node}` };
  }
  if (kind === 'agent') {
    const restart = `agent-${node}`;
    return { restart, target: `${restart} pid ${kill(restart)}` };
  }
  if (kind === 'controller') {
    // the sandbox's controllers lead as <name>-<pid> (sandbox/launcher/controller-main.ts)
    const { holder } = await leaseHolder(kube);
    const name = holder?.replace(/-\d+$/, '');
    if (!holder || !name || procs[name] === undefined || holder !== `${name}-${procs[name]}`)
      throw new Error(`chaos: the leader Lease names ${holder ?? 'nobody'}, not one of the sandbox's running controllers`);
    const killedAt = Date.now();
    const target = `leader ${name} pid ${kill(name)}`;
    const failover = (async () => {
      while (Date.now() - killedAt < recoveryTimeoutMs) {
        const now = await leaseHolder(kube);
        if (now.holder && now.holder !== holder) return (Date.now() - killedAt) / 1000;
        await sleep(100);
      }
      return null;
    })();
    return { restart: name, target, failover };
  }
  if (kind === 'nats') {
    // the server the first load connection is on: its callers must fail over
    const port = conns[0].getServer().split(':').pop();
    const i = Math.max(
      0,
      sb.natsUrls.findIndex((u) => u.endsWith(`:${port}`)),
    );
    const restart = i === 0 ? 'nats-server' : `nats-server-${i + 1}`;
    return { restart, target: `${restart} pid ${kill(restart)} (load connection 1 was on it)` };
  }
  const restart = 'docker-registry';
  return { restart, target: `${restart} pid ${kill(restart)}` };
}
