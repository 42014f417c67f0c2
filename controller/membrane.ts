/**
 * The controller's side of the membrane (membrane/, docs/security.md): with
 * `--membrane-keys DIR --membrane-nats URL` it holds the account signing key and mints every
 * credential on the bus — CapabilityGrants' user JWTs and the account push (grants/), and each
 * ProviderInstance's host credential (credentials/host.ts). Without it neither happens.
 */
import type { MembraneAuthority } from '../membrane/authority.js';

export interface MembraneConfig {
  authority: MembraneAuthority;
  /** The NATS servers account updates are pushed to. */
  servers: string | string[];
}
