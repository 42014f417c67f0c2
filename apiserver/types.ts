/**
 * The shapes the emulator passes around: a Kubernetes object is plain JSON (`KObject`), and a
 * `ResourceType` says how one REST resource behaves — where it is served, whether it is
 * namespaced, which subresources and which schema it has. Built-ins and CRD-derived custom
 * resources are both `ResourceType`s; handlers never special-case a kind by name except
 * through the hooks declared here.
 */
import type { StatusCause } from './errors.js';
import type { NameRule } from './names.js';

export type KObject = { apiVersion?: string; kind?: string; metadata: ObjectMeta; [k: string]: any };

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  [k: string]: unknown;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

/** JSON schema (OpenAPI v3 subset with x-kubernetes extensions), as in a CRD. */
export type Schema = Record<string, any>;

export interface ResourceType {
  group: string;
  /** Versions served; the first is the storage / preferred version. */
  versions: string[];
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  /** How metadata.name is validated on create (names.ts); default 'subdomain'. */
  nameRule?: NameRule;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Has a /status subresource: main writes keep status, /status writes keep everything else. */
  status: boolean;
  scale?: ScaleSpec;
  /** metadata.generation is maintained (bumped on non-metadata changes). */
  generation: boolean;
  /** A custom resource: strategic-merge-patch is refused with 415. */
  custom: boolean;
  /** Per version openAPIV3Schema (custom resources) used for pruning, defaulting, validation. */
  schemas?: Record<string, Schema | undefined>;
  printerColumns?: Record<string, PrinterColumn[] | undefined>;
  selectableFields?: string[];
  /** Extra field selectors a built-in supports, e.g. spec.nodeName for pods. */
  fieldGetters?: Record<string, (o: KObject) => string | undefined>;
  /** Built-in defaulting on create/update. */
  defaulter?: (o: KObject) => void;
  /** Built-in validation beyond names, as the kind's Validate…/Validate…Update does: `prev` on an update. */
  validator?: (o: KObject, prev?: KObject) => StatusCause[];
  /** Built-in strategic-merge list keys, by field name (e.g. containers → name). */
  mergeKeys?: Record<string, string>;
  /** Table printer for built-ins; default prints Name + Age. */
  table?: { columns: TableColumn[]; row: (o: KObject) => unknown[] };
}

/** One request on one resource, as the API semantics (handlers.ts) see it: HTTP is gone by now. */
export interface RequestScope {
  rt: ResourceType;
  version: string;
  namespace: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
  userAgent?: string;
}

/** What a write answers: the status code, the body (mostly the stored object) and warnings. */
export interface WriteResult {
  code: number;
  body: unknown;
  warnings: string[];
}

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** group/plural: the storage key of a resource, independent of version. */
export function resourceKey(rt: Pick<ResourceType, 'group' | 'plural'>): string {
  return rt.group ? `${rt.group}/${rt.plural}` : rt.plural;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** An object as a client of `version` sees it (the stored object itself when nothing differs). */
export function presentAs(rt: ResourceType, version: string, o: KObject): KObject {
  const apiVersion = apiVersionOf(rt.group, version);
  if (o.apiVersion === apiVersion && o.kind === rt.kind) return o;
  return { ...o, apiVersion, kind: rt.kind };
}
