/**
 * `meta.k8s.io/v1 Table` rendering, which is what `kubectl get` asks for. Custom resources use
 * their CRD's `additionalPrinterColumns` (JSONPath, `date` columns shown as ages); built-ins
 * bring their own printer (builtins.ts); anything else prints Name + Age like the real server.
 */
import { JSONPath } from 'jsonpath-plus';
import type { KObject, PrinterColumn, ResourceType, TableColumn } from './types.js';

/** kubectl's HumanDuration: 45s, 5m3s, 3h, 2d4h, 400d … */
export function humanAge(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '<unknown>';
  const secs = Math.floor((now - Date.parse(ts)) / 1000);
  if (!Number.isFinite(secs)) return '<invalid>';
  if (secs < 0) return '0s';
  if (secs < 120) return `${secs}s`;
  const mins = Math.floor(secs / 60);
  if (mins < 10) return secs % 60 === 0 ? `${mins}m` : `${mins}m${secs % 60}s`;
  if (mins < 180) return `${mins}m`;
  const hours = Math.floor(mins / 60);
  if (hours < 8) return mins % 60 === 0 ? `${hours}h` : `${hours}h${mins % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

const nameColumn: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
};
const ageColumn: TableColumn = {
  name: 'Age',
  type: 'string',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
};

function evalJsonPath(obj: KObject, path: string): unknown {
  // CRD paths look like `.spec.replicas`; JSONPath-plus wants `$.spec.replicas`.
  const expr = path.startsWith('$') ? path : '$' + (path.startsWith('.') || path.startsWith('[') ? '' : '.') + path;
  try {
    const res = JSONPath({ path: expr, json: obj, wrap: true }) as unknown[];
    if (!res || res.length === 0) return null;
    return res.length === 1 ? res[0] : res;
  } catch {
    return null;
  }
}

function cellFor(col: PrinterColumn, obj: KObject): unknown {
  const v = evalJsonPath(obj, col.jsonPath);
  if (v === null || v === undefined) return null;
  switch (col.type) {
    case 'date':
      return typeof v === 'string' ? humanAge(v) : null;
    case 'integer':
      return typeof v === 'number' ? Math.trunc(v) : null;
    case 'number':
      return typeof v === 'number' ? v : null;
    case 'boolean':
      return typeof v === 'boolean' ? v : null;
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

export interface TablePrinter {
  columns: TableColumn[];
  row: (o: KObject) => unknown[];
}

export function printerFor(rt: ResourceType, version: string): TablePrinter {
  if (rt.table) return rt.table;
  const cols = rt.printerColumns?.[version];
  if (cols && cols.length > 0) {
    const hasAge = cols.some((c) => c.jsonPath === '.metadata.creationTimestamp');
    const defs: TableColumn[] = [
      nameColumn,
      ...cols.map((c) => ({
        name: c.name,
        type: c.type === 'date' ? 'date' : c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ];
    if (!hasAge) defs.push(ageColumn);
    return {
      columns: defs,
      row: (o) => [o.metadata.name, ...cols.map((c) => cellFor(c, o)), ...(hasAge ? [] : [humanAge(o.metadata.creationTimestamp)])],
    };
  }
  return { columns: [nameColumn, ageColumn], row: (o) => [o.metadata.name, humanAge(o.metadata.creationTimestamp)] };
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function tableRowObject(o: KObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  const { managedFields: _mf, ...meta } = o.metadata;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta };
}

export function toTable(
  printer: TablePrinter,
  objs: KObject[],
  include: IncludeObject,
  listMeta: Record<string, unknown>,
  withColumns = true,
): Record<string, unknown> {
  const t: Record<string, unknown> = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta };
  t.columnDefinitions = withColumns ? printer.columns : null;
  t.rows = objs.map((o) => {
    const row: Record<string, unknown> = { cells: printer.row(o) };
    const obj = tableRowObject(o, include);
    if (obj !== undefined) row.object = obj;
    return row;
  });
  return t;
}

/** `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, …` */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => /as=Table/.test(part) && /g=meta\.k8s\.io/.test(part) && /v=v1(beta1)?\b/.test(part));
}

export function tableContentType(accept: string | undefined): string {
  const v1 = accept?.split(',').some((p) => /as=Table/.test(p) && /v=v1(;|$|\s)/.test(p.trim() + ';'));
  return `application/json;as=Table;v=${v1 ? 'v1' : 'v1beta1'};g=meta.k8s.io`;
}
