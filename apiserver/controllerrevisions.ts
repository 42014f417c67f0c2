/**
 * ControllerRevision, the built-in kind workloads keep their history in (apps/v1; Gantry's
 * Providers too): the checks the real server makes (its `kubectl get` row is in builtins.ts).
 */
import type { StatusCause } from './errors.js';
import type { KObject } from './types.js';

/**
 * apps/v1 ValidateControllerRevision(Update): `data` is mandatory and, once written, immutable;
 * `revision` a non-negative int64 (absent is 0, Go's zero value).
 */
export function controllerRevisionCauses(o: KObject, prev?: KObject): StatusCause[] {
  const causes: StatusCause[] = [];
  if (o.data === undefined || o.data === null)
    causes.push({ reason: 'FieldValueRequired', message: 'Required value: data is mandatory', field: 'data' });
  // a revision that is no integer never decodes on the real server (400): only the range is checked here
  const r = o.revision ?? 0;
  if (r < 0)
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${r}: must be greater than or equal to 0`, field: 'revision' });
  // compared as written, key order included: the real server compares the raw bytes
  if (prev && JSON.stringify(o.data) !== JSON.stringify(prev.data))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(o.data)}: field is immutable`, field: 'data' });
  return causes;
}
