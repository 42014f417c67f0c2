/**
 * What topology spread costs the scheduler: one scheduling pass over 1,000 nodes in 10 zones
 * placing N replicas, with `topologySpread` (zone, maxSkew 1, DoNotSchedule; then ScheduleAnyway;
 * then weighted groups, 2:1 over two halves of the zones) beside the same pass without it, in
 * the same process, interleaved, as the median of several runs. The ratio is the number to
 * read: the machine is shared, absolute times move with its load.
 *
 *   npm run build && node dist/bench/scheduling/spread.js [--nodes 1000] [--zones 10] [--replicas 100,500] [--runs 15]
 */
import { parseArgs } from 'node:util';
import type { TopologySpreadConstraint } from '../../api/spread.js';
import { scheduleOverGroups } from '../../controller/providers/scheduling/groups.js';
import type { NodeView } from '../../controller/providers/scheduling/nodes.js';
import { type ScheduleInput, scheduleReplicas } from '../../controller/providers/scheduling/scheduler.js';
import { medianMs } from '../timing.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    zones: { type: 'string', default: '10' },
    replicas: { type: 'string', default: '100,500' },
    runs: { type: 'string', default: '15' },
  },
});
const NODES = Number(values.nodes);
const ZONES = Number(values.zones);
const RUNS = Number(values.runs);
const ZONE = 'topology.kubernetes.io/zone';

const nodes: NodeView[] = Array.from({ length: NODES }, (_, i) => ({
  name: `node-${i}`,
  labels: {
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/os': 'linux',
    [ZONE]: `zone-${i % ZONES}`,
    half: i % ZONES < ZONES / 2 ? 'a' : 'b',
  },
  platform: 'amd64/linux',
  ready: true,
  unschedulable: false,
  taints: [],
  target: 'x86_64-linux',
  agentLive: true,
  maxInstances: 110,
}));
// other Providers' instances, so the load scorer has something to rank
const load = new Map(nodes.map((n, i) => [n.name, i % 7]));
const base = (count: number): ScheduleInput => ({
  nodes,
  count,
  archiveTargets: new Set(['x86_64-linux']),
  occupied: new Set(),
  instances: new Map(),
  load,
  previous: new Set(),
  tieBreak: 'apps/bench',
});
const constraint = (whenUnsatisfiable: TopologySpreadConstraint['whenUnsatisfiable']): TopologySpreadConstraint[] => [
  { topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable },
];

const rows: string[][] = [['replicas', 'variant', 'median ms', 'ratio to plain', 'placed']];
for (const count of values.replicas.split(',').map(Number)) {
  const variants: [string, () => number][] = [
    ['plain', () => scheduleReplicas(base(count)).placements.length],
    ['DoNotSchedule', () => scheduleReplicas({ ...base(count), topologySpread: constraint('DoNotSchedule') }).placements.length],
    ['ScheduleAnyway', () => scheduleReplicas({ ...base(count), topologySpread: constraint('ScheduleAnyway') }).placements.length],
    [
      'weighted 2:1',
      () =>
        scheduleOverGroups({
          ...base(count),
          desired: count,
          groups: [
            { name: 'a', nodeSelector: { half: 'a' }, weight: 2 },
            { name: 'b', nodeSelector: { half: 'b' }, weight: 1 },
          ],
        }).placements.length,
    ],
  ];
  const ms = new Map<string, number[]>(variants.map(([v]) => [v, []]));
  // interleaved rounds: a burst of load on the shared machine hits every variant alike
  for (let round = 0; round < 3; round++) for (const [v, fn] of variants) ms.get(v)!.push(await medianMs(Math.ceil(RUNS / 3), fn));
  const med = (v: string) => ms.get(v)!.sort((a, b) => a - b)[1];
  for (const [v, fn] of variants) rows.push([String(count), v, med(v).toFixed(2), (med(v) / med('plain')).toFixed(1), String(fn())]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
process.stdout.write(`${NODES} nodes in ${ZONES} zones, one scheduling pass\n`);
for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ') + '\n');
