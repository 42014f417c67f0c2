/**
 * Keeps an instance's secret config values (agent/secret-config.ts) out of what the agent and
 * its host write: a provider's own error message may quote the config it was given. Free of
 * imports, so the host process can use it (main.ts).
 */

/** `text` with every occurrence of every (non-empty) value replaced by `[redacted]`. */
export function redactSecrets(text: string, values: Readonly<Record<string, string>> | readonly string[] | undefined): string {
  let out = text;
  for (const v of Array.isArray(values) ? values : Object.values(values ?? {})) if (v) out = out.split(v).join('[redacted]');
  return out;
}
