/**
 * spec.health of a Provider, copied into each ProviderInstance: how the host checks a provider
 * that implements the ABI's health extension (docs/abi.md#health). Ignored for one that does not.
 */
import { z } from 'zod';

export const ProviderHealth = z
  .object({
    periodSeconds: z.int().min(1).max(3600).optional().describe('how often the host asks the provider (default 10)'),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(3600)
      .optional()
      .describe('a check that takes longer counts as a failure (default 1); a running check is never doubled'),
    failureThreshold: z
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('failures in a row that restart the host (liveness, default 3); one failure already stops calls (readiness)'),
  })
  .describe(
    "health checks of a provider with the ABI's health extension: unhealthy → no calls (Ready=False ProviderUnhealthy); failureThreshold in a row → restart (LivenessFailed)",
  );
export type ProviderHealth = z.infer<typeof ProviderHealth>;
