/** Option parsing shared by the `gantry` commands: repeatable flags, durations and byte sizes. */

/** Commander reducer for a repeatable flag: `--x a --x b` → ['a', 'b']. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/**
 * A duration flag → milliseconds: '1500ms', '20s', '90m', '12h', '30d', '2w', '1y', or a plain
 * number of seconds. A usage error (exit 2) naming the flag otherwise.
 */
export function parseDuration(text: string, flag: string, opts: { positive?: boolean } = {}): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w|y)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!) : NaN;
  if (!m || (opts.positive && !(ms > 0))) {
    throw Object.assign(
      new Error(
        `${flag} ${JSON.stringify(text)}: expected a ${opts.positive ? 'positive ' : ''}duration such as 1500ms, 20s, 90m, 12h, 30d or 1y`,
      ),
      { exitCode: 2 },
    );
  }
  return ms;
}

const UNIT_BYTES: Record<string, number> = {
  '': 1,
  k: 1000,
  kb: 1000,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * A size flag → bytes: '268435456', '256MiB', '512Mi', '1GiB', '100MB' (case-insensitive). A
 * usage error (exit 2) naming the flag otherwise, or when it is not a positive whole number.
 */
export function parseByteSize(text: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNIT_BYTES[m[2].toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) {
    throw Object.assign(new Error(`${flag} ${JSON.stringify(text)}: expected a positive size such as 268435456, 256MiB or 1GiB`), {
      exitCode: 2,
    });
  }
  return bytes;
}
