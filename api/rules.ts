/**
 * CEL validation rules a zod schema carries into its CRD (`x-kubernetes-validations`), for
 * what a structural schema cannot say. Only the forms the API emulator evaluates belong here
 * (apiserver/cel.ts), so a rule holds on both grounds: today that is `self == oldSelf`, the
 * transition rule that makes a field immutable once the object exists.
 */
import type { z } from 'zod';

export interface ValidationRule {
  rule: string;
  message: string;
}

export const IMMUTABLE_RULE = 'self == oldSelf';

/** `t`, refused by the API server when an update changes it (`message` says why). */
export function immutable<T extends z.ZodType>(t: T, message: string): T {
  return t.meta({ 'x-kubernetes-validations': [{ rule: IMMUTABLE_RULE, message } satisfies ValidationRule] });
}
