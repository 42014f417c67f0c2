/**
 * The registry transfer limits as flags, shared by `gantry par …`, `gantry lock`, `gantry log …`,
 * the controller and the agent: every registry request's overall deadline and the minimum
 * average rate its body must keep over a window (registry/distribution/transfer-guard.ts).
 */
import type { Command } from 'commander';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../registry/index.js';
import { parseByteSize, parseDuration } from './options.js';

export interface TransferFlags {
  registryDeadline?: string;
  registryMinRate?: string;
  registryRateWindow?: string;
}

export const transferLimitFlags = (c: Command): Command =>
  c
    .option(
      '--registry-deadline <duration>',
      'the longest one registry request may take (every attempt, headers and body); fails with REGISTRY_DEADLINE',
      `${DEFAULT_TRANSFER_LIMITS.deadlineMs / 1000}s`,
    )
    .option(
      '--registry-min-rate <size>',
      'bytes per second a registry body must average over each --registry-rate-window (0: no minimum); fails with REGISTRY_TOO_SLOW',
      `${DEFAULT_TRANSFER_LIMITS.minBytesPerSecond / 1024}KiB`,
    )
    .option(
      '--registry-rate-window <duration>',
      'the window the minimum rate is averaged over (a pause shorter than this costs nothing)',
      `${DEFAULT_TRANSFER_LIMITS.rateWindowMs / 1000}s`,
    );

/** The flags as limits (a flag not taken: its default); a usage error (exit 2) naming the flag otherwise. */
export function transferLimitsOf(o: TransferFlags): TransferLimits {
  const d = DEFAULT_TRANSFER_LIMITS;
  const rate = o.registryMinRate?.trim();
  return {
    deadlineMs: o.registryDeadline ? parseDuration(o.registryDeadline, '--registry-deadline', { positive: true }) : d.deadlineMs,
    minBytesPerSecond: rate === undefined ? d.minBytesPerSecond : rate === '0' ? 0 : parseByteSize(rate, '--registry-min-rate'),
    rateWindowMs: o.registryRateWindow ? parseDuration(o.registryRateWindow, '--registry-rate-window', { positive: true }) : d.rateWindowMs,
  };
}
