/**
 * API errors as Kubernetes `Status` objects. Every failure the emulator reports — from the
 * router, the validation layer or the store — is an `ApiError`, so the HTTP layer has one
 * place that turns it into `{kind:"Status", status:"Failure", reason, code, details}` and
 * clients (client-node's ApiException, kubectl's error printer) see what a real cluster sends.
 */
import { goQuote } from './names.js';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    const s: Record<string, unknown> = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
    };
    if (this.details) s.details = this.details;
    s.code = this.code;
    return s;
  }
}

/** `widgets.example.com` or, for the core group, just `configmaps`. */
export function qualifiedResource(plural: string, group: string): string {
  return group ? `${plural}.${group}` : plural;
}

export const errors = {
  notFound: (plural: string, group: string, name: string) =>
    new ApiError(404, 'NotFound', `${qualifiedResource(plural, group)} "${name}" not found`, { name, group, kind: plural }),
  alreadyExists: (plural: string, group: string, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualifiedResource(plural, group)} "${name}" already exists`, { name, group, kind: plural }),
  conflict: (
    plural: string,
    group: string,
    name: string,
    why = 'the object has been modified; please apply your changes to the latest version and try again',
  ) =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(plural, group)} "${name}": ${why}`, {
      name,
      group,
      kind: plural,
    }),
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  invalid: (kind: string, group: string, name: string, causes: StatusCause[]) => {
    const q = group ? `${kind}.${group}` : kind;
    // The message lists each distinct problem once (field.ErrorList.ToAggregate); causes keep all.
    const msgs = [...new Set(causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)))];
    const list = msgs.join(', ');
    return new ApiError(422, 'Invalid', `${q} ${goQuote(name)} is invalid: ${msgs.length > 1 ? '[' + list + ']' : list}`, {
      name,
      group,
      kind,
      causes,
    });
  },
  forbidden: (plural: string, group: string, name: string, why: string) =>
    new ApiError(403, 'Forbidden', `${qualifiedResource(plural, group)} "${name}" is forbidden: ${why}`, { name, group, kind: plural }),
  unsupportedMediaType: (message: string) => new ApiError(415, 'UnsupportedMediaType', message),
  methodNotAllowed: (message = 'the server does not allow this method on the requested resource') =>
    new ApiError(405, 'MethodNotAllowed', message),
  unauthorized: () => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  expired: (requested: string, oldest: number) => new ApiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`),
  gone: (message: string) => new ApiError(410, 'Expired', message),
  pathNotFound: (path: string) => new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`, {}),
  internal: (message: string) => new ApiError(500, 'InternalError', `Internal error occurred: ${message}`),
};
