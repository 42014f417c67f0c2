import type { ProviderInstance } from '../../api/instance.js';
export interface SecretConfigWriter {
  /** Seal `values` (secret config key → value) to inst's node into its per-instance Secret; resolves once written (or recorded as waiting for the node's seal key). */
  ensure(inst: ProviderInstance, values: Readonly<Record<string, string>>): Promise<void>;
}
