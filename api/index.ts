/** The Gantry resource API: Provider and ProviderInstance (gantry.dev/v1alpha1). */
export * from './common.js';
export * from './provider.js';
export * from './instance.js';
export { providerCrd, providerInstanceCrd, renderCrds } from './crds.js';
export * from './reasons.js';
