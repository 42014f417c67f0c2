/**
 * Spreading a Provider's replicas: over topology domains (`spec.topologySpread`, after a Pod's
 * topologySpreadConstraints) and over weighted label groups (`spec.spread`, after wadm's spread
 * scaler). The scheduler's side is controller/providers/scheduling/spread*.ts.
 */
import { z } from 'zod';

/** A label key as Kubernetes allows one: optional DNS-subdomain prefix, then a name of ≤ 63 chars. */
export const labelKeyPattern =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';

export const TopologySpreadConstraint = z
  .object({
    topologyKey: z
      .string()
      .regex(new RegExp(labelKeyPattern))
      .max(316)
      .describe('node label whose values are the domains, e.g. topology.kubernetes.io/zone'),
    maxSkew: z.int().min(1).max(100_000).describe('most instances a domain may have above the emptiest eligible domain'),
    whenUnsatisfiable: z
      .enum(['DoNotSchedule', 'ScheduleAnyway'])
      .describe('DoNotSchedule: leave the replica unplaced (a filter); ScheduleAnyway: only prefer the emptier domains (a scorer)'),
    minDomains: z
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe('with fewer eligible domains than this, the emptiest count is taken as 0 (DoNotSchedule only)'),
  })
  // as for Pods: minDomains is only defined for a constraint that filters
  .refine((c) => c.minDomains === undefined || c.whenUnsatisfiable === 'DoNotSchedule', {
    message: 'minDomains is only allowed with whenUnsatisfiable DoNotSchedule',
    path: ['minDomains'],
  });
export type TopologySpreadConstraint = z.infer<typeof TopologySpreadConstraint>;

export const TopologySpread = z
  .array(TopologySpreadConstraint)
  .max(8)
  .refine((cs) => new Set(cs.map((c) => `${c.topologyKey}\u0000${c.whenUnsatisfiable}`)).size === cs.length, {
    message: 'two constraints with the same topologyKey and whenUnsatisfiable',
  })
  // the API server refuses the duplicate itself, as it does for a Pod's constraints
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['topologyKey', 'whenUnsatisfiable'] });

/** wadm's default weight, so a spec that leaves some weights out reads as it would there. */
export const DEFAULT_SPREAD_WEIGHT = 100;

export const SpreadGroup = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    .max(63)
    .describe('names the group in status messages'),
  nodeSelector: z.record(z.string(), z.string()).optional().describe('node labels that must all match (absent: every node)'),
  weight: z
    .int()
    .min(1)
    .max(1_000_000)
    .optional()
    .describe(`share of the replicas, relative to the other groups (default ${DEFAULT_SPREAD_WEIGHT})`),
});
export type SpreadGroup = z.infer<typeof SpreadGroup>;

export const Spread = z
  .array(SpreadGroup)
  .min(1)
  .max(16)
  .refine((gs) => new Set(gs.map((g) => g.name)).size === gs.length, { message: 'two spread groups with the same name' })
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
