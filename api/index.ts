/** The Gantry resource API: Provider, ProviderInstance and CapabilityGrant (gantry.dev/v1alpha1). */
export * from './common.js';
export * from './provider.js';
export * from './instance.js';
export * from './grant.js';
export { capabilityGrantCrd, providerCrd, providerInstanceCrd, REPLICAS_OWNER_MESSAGE, REPLICAS_OWNER_RULE, renderCrds } from './crds.js';
export * from './reasons.js';
export * from './history.js';
export { parseConfigMapRef, parseTrustPolicy, TRUST_POLICY_KEYS, type TrustPolicy, TrustPolicyError } from './trust-policy.js';
