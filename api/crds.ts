/**
 * CustomResourceDefinitions generated from the zod schemas — the schemas are the single
 * source; `crds/*.yaml` is their rendering (`node dist/api/generate-crds.js` rewrites it, and
 * test/api/crds.test.ts fails when the files are stale).
 *
 * zod emits OpenAPI 3.0 JSON Schema; a CRD wants a *structural* schema, so `toStructural`
 * drops what Kubernetes rejects (`$schema`, `additionalProperties` beside
 * `x-kubernetes-preserve-unknown-fields`) and leaves everything else (required, enums,
 * ranges, patterns) intact. An int-or-string (zod union of an integer and a pattern string,
 * tagged `x-kubernetes-int-or-string`) becomes the one shape Kubernetes accepts for it:
 * `anyOf: [{type: integer}, {type: string}]`, with the integer's range and the string's
 * pattern hoisted beside it (each applies only to values of its own type).
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import { group, version } from './common.js';
import { ProviderSpec, ProviderStatus } from './provider.js';
import { ProviderInstanceSpec, ProviderInstanceStatus } from './instance.js';
import { CapabilityGrantSpec, CapabilityGrantStatus } from './grant.js';

type Schema = Record<string, any>;

export function toStructural(s: Schema): Schema {
  if (Array.isArray(s)) return s.map(toStructural) as any;
  if (!s || typeof s !== 'object') return s;
  const out: Schema = {};
  if (s['x-kubernetes-int-or-string'] && Array.isArray(s.anyOf)) {
    const { anyOf, ...rest } = s;
    const hoisted: Schema = { ...rest };
    for (const branch of anyOf as Schema[]) {
      for (const [k, v] of Object.entries(branch)) if (k !== 'type') hoisted[k] = v;
    }
    s = hoisted;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  for (const [k, v] of Object.entries(s)) {
    if (k === '$schema' || k === 'id') continue;
    if (k === 'additionalProperties' && (s['x-kubernetes-preserve-unknown-fields'] || v === false)) continue;
    if (k === 'pattern' && typeof v === 'string') {
      out[k] = v.replace(/\\\//g, '/'); // RegExp.source escapes '/', RE2 does not need it
      continue;
    }
    out[k] = typeof v === 'object' ? toStructural(v) : v;
  }
  return out;
}

function schemaOf(t: z.ZodType): Schema {
  return toStructural(z.toJSONSchema(t, { target: 'openapi-3.0', io: 'input' }) as Schema);
}

interface CrdInput {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: z.ZodType;
  status: z.ZodType;
  required?: string[];
  columns: { name: string; type: string; jsonPath: string; description?: string; priority?: number }[];
  scale?: boolean;
  /** CEL rules on the whole object (root-level x-kubernetes-validations). */
  rules?: Schema[];
}

function crd(i: CrdInput): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${i.plural}.${group}` },
    spec: {
      group,
      names: {
        kind: i.kind,
        listKind: `${i.kind}List`,
        plural: i.plural,
        singular: i.singular,
        shortNames: i.shortNames,
        categories: ['gantry'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              ...(i.rules ? { 'x-kubernetes-validations': i.rules } : {}),
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: schemaOf(i.spec),
                status: schemaOf(i.status),
              },
            },
          },
          subresources: {
            status: {},
            ...(i.scale
              ? {
                  scale: {
                    specReplicasPath: '.spec.replicas',
                    statusReplicasPath: '.status.replicas',
                    labelSelectorPath: '.status.selector',
                  },
                }
              : {}),
          },
          additionalPrinterColumns: [...i.columns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
        },
      ],
    },
  };
}

/**
 * spec.replicas has one owner when spec.autoscale is set: the autoscaler, which first writes
 * status.autoscale.desiredReplicas (status subresource) and then spec.replicas to the same value.
 * Any other change — `kubectl scale`, an HPA, an edit — is refused by the API server itself,
 * on every path that writes spec (update, patch, apply, the scale subresource). The emulator
 * evaluates exactly this text (apiserver/cel.ts).
 */
export const REPLICAS_OWNER_RULE =
  '!has(self.spec.autoscale) || ' +
  '(has(self.spec.replicas) ? self.spec.replicas : 1) == (has(oldSelf.spec.replicas) ? oldSelf.spec.replicas : 1) || ' +
  '(has(self.spec.replicas) && has(self.status) && has(self.status.autoscale) && has(self.status.autoscale.desiredReplicas) && ' +
  'self.spec.replicas == self.status.autoscale.desiredReplicas)';
export const REPLICAS_OWNER_MESSAGE =
  'spec.replicas is owned by spec.autoscale: the controller sets it to status.autoscale.desiredReplicas; ' +
  'change spec.autoscale (minReplicas, maxReplicas) instead, or remove spec.autoscale to scale by hand or with an HPA';

export function providerCrd(): Schema {
  return crd({
    kind: 'Provider',
    plural: 'providers',
    singular: 'provider',
    shortNames: ['prov'],
    spec: ProviderSpec,
    status: ProviderStatus,
    scale: true,
    rules: [{ rule: REPLICAS_OWNER_RULE, message: REPLICAS_OWNER_MESSAGE, fieldPath: '.spec.replicas', reason: 'FieldValueForbidden' }],
    columns: [
      { name: 'CapID', type: 'string', jsonPath: '.status.resolved.capid', description: 'capability id from the signed claims' },
      { name: 'Revision', type: 'integer', jsonPath: '.status.resolved.revision', description: 'archive revision being served' },
      { name: 'Desired', type: 'integer', jsonPath: '.status.desiredReplicas' },
      { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
      {
        name: 'Autoscale',
        type: 'string',
        jsonPath: '.status.autoscale.reason',
        description: "the autoscaler's last decision (spec.autoscale; status.autoscale.message says why)",
      },
      {
        name: 'Template',
        type: 'integer',
        jsonPath: '.status.currentRevision',
        description: 'rollout history revision of the current template (gantry rollout history)',
        priority: 1,
      },
    ],
  });
}

export function providerInstanceCrd(): Schema {
  return crd({
    kind: 'ProviderInstance',
    plural: 'providerinstances',
    singular: 'providerinstance',
    shortNames: ['provi', 'pinst'],
    spec: ProviderInstanceSpec,
    status: ProviderInstanceStatus,
    columns: [
      { name: 'Provider', type: 'string', jsonPath: '.spec.provider' },
      { name: 'Node', type: 'string', jsonPath: '.spec.nodeName' },
      { name: 'Target', type: 'string', jsonPath: '.spec.target' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Restarts', type: 'integer', jsonPath: '.status.restartCount' },
    ],
  });
}

export function capabilityGrantCrd(): Schema {
  return crd({
    kind: 'CapabilityGrant',
    plural: 'capabilitygrants',
    singular: 'capabilitygrant',
    shortNames: ['grant'],
    spec: CapabilityGrantSpec,
    status: CapabilityGrantStatus,
    columns: [
      { name: 'Grantee', type: 'string', jsonPath: '.spec.grantee.nkey', description: "the caller's NATS user public key" },
      { name: 'Target', type: 'string', jsonPath: '.spec.provider', description: 'the Provider (or, when empty, see capabilityId)' },
      { name: 'CapID', type: 'string', jsonPath: '.spec.capabilityId', priority: 1 },
      { name: 'Operations', type: 'string', jsonPath: '.spec.operations' },
      { name: 'Expires', type: 'string', jsonPath: '.spec.expires' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    ],
  });
}

const header = '# Generated from api/*.ts by `node dist/api/generate-crds.js`. Do not edit.\n';

/** The rendered files: name → YAML text. */
export function renderCrds(): Record<string, string> {
  return {
    [`${group}_providers.yaml`]: header + stringify(providerCrd(), { lineWidth: 0 }),
    [`${group}_providerinstances.yaml`]: header + stringify(providerInstanceCrd(), { lineWidth: 0 }),
    [`${group}_capabilitygrants.yaml`]: header + stringify(capabilityGrantCrd(), { lineWidth: 0 }),
  };
}
