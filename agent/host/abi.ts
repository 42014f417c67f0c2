/**
 * The native provider ABI version this host speaks (`GANTRY_ABI_VERSION` in
 * providers/gantry_provider.h). Kept apart from native.ts so that reporting it (e.g.
 * `gantry version`) does not load koffi.
 */
export const ABI_VERSION = 1;
