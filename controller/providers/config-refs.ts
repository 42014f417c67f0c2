/**
 * spec.configFrom → the config an instance carries and the secret values it must never carry.
 * Each referenced ConfigMap or Secret (read by config-ref-cache.ts, decoded here) gives its
 * (selected) keys; items merge in order, later ones win, spec.config wins last. A key whose
 * final value came from a Secret is a *secret key*: the instance gets its name only
 * (`secretConfig.keys`, with the Secrets' resourceVersions in `sources`), and its value goes
 * only to the SecretConfigWriter (secret-config.ts), which seals it to the instance's node.
 *
 * Pure, and all or nothing: one bad reference (missing object or key, a refused read, a value
 * that is not text) is an error naming the object and key — never a value — and no config at
 * all, so nothing starts with half a config.
 */
import type { ConfigFailureReason } from '../../api/reasons.js';
import type { ConfigSource } from '../../api/provider.js';

export type ConfigKind = 'ConfigMap' | 'Secret';

/** One referenced object as read: its text values by key, and the keys that cannot be used (why, never the value). */
export interface ConfigObject {
  kind: ConfigKind;
  name: string;
  resourceVersion: string;
  data: ReadonlyMap<string, string>;
  unusable: ReadonlyMap<string, string>;
}

export class ConfigRefError extends Error {
  override name = 'ConfigRefError';
  constructor(
    readonly reason: ConfigFailureReason,
    message: string,
  ) {
    super(message);
  }
}

interface ObjectLike {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A ConfigMap's or Secret's usable text. A Secret's data is base64 of bytes that must be UTF-8
 * text (config values are strings); a ConfigMap's binaryData is refused (put text in data):
 * both only when a Provider selects that key, so an unrelated key does not stop it.
 */
export function decodeConfigObject(kind: ConfigKind, namespace: string, name: string, obj: ObjectLike): ConfigObject {
  const data = new Map<string, string>();
  const unusable = new Map<string, string>();
  const where = `${kind} ${namespace}/${name}`;
  for (const [key, raw] of Object.entries(obj.data ?? {})) {
    if (kind === 'ConfigMap') {
      data.set(key, raw);
      continue;
    }
    try {
      data.set(key, utf8.decode(Buffer.from(raw, 'base64')));
    } catch {
      unusable.set(key, `${where} key ${key} is not UTF-8 text`);
    }
  }
  for (const key of Object.keys(obj.binaryData ?? {}))
    unusable.set(key, `${where} key ${key} is binaryData, which config cannot carry; put it in data as text`);
  return { kind, name, resourceVersion: obj.metadata?.resourceVersion ?? '', data, unusable };
}

/** The instance's share of the config: what it carries, and the secret values only its node may learn. */
export interface ResolvedConfig {
  /** The non-secret keys (undefined: none). */
  config?: Record<string, unknown>;
  /** Names of the secret keys and the Secrets they came from (undefined: none). */
  secretConfig?: { keys: string[]; sources: { name: string; resourceVersion: string }[] };
  /** Secret key → value: for the SecretConfigWriter only. */
  secretValues: Record<string, string>;
}

export type ConfigResolution = { pending: true } | { error: ConfigRefError } | { resolved: ResolvedConfig };

/** What the cache holds for one reference: the object, why it cannot be read, or undefined while first read. */
export type ConfigLookup = (kind: ConfigKind, name: string) => ConfigObject | ConfigRefError | undefined;

const kindOf = (s: ConfigSource): ConfigKind => (s.configMapRef ? 'ConfigMap' : 'Secret');

interface Winner {
  value: unknown;
  /** The Secret it came from, if it did. */
  secret?: ConfigObject;
}

/** Merges spec.configFrom (in order) and spec.config (last) and splits off the secret keys. */
export function resolveConfig(
  spec: { config?: Record<string, unknown>; configFrom?: ConfigSource[] },
  namespace: string,
  lookup: ConfigLookup,
): ConfigResolution {
  const sources = spec.configFrom ?? [];
  // without references the instance's config is spec.config as written (so its template is unchanged)
  if (sources.length === 0) return { resolved: { ...(spec.config ? { config: spec.config } : {}), secretValues: {} } };
  const read = sources.map((s) => lookup(kindOf(s), (s.configMapRef ?? s.secretRef)!.name));
  // every object asked for at once, so one pass of reads brings them all
  if (read.some((r) => r === undefined)) return { pending: true };
  // a Map, not an object: a key named __proto__ in a ConfigMap must stay a key
  const merged = new Map<string, Winner>();
  for (const [i, s] of sources.entries()) {
    const r = read[i]!;
    const ref = (s.configMapRef ?? s.secretRef)!;
    if (r instanceof ConfigRefError) {
      if (ref.optional && (r.reason === 'ConfigMapNotFound' || r.reason === 'SecretNotFound')) continue;
      return { error: r };
    }
    const failure = take(r, s.keys, namespace, merged);
    if (failure) return { error: failure };
  }
  for (const [key, value] of Object.entries(spec.config ?? {})) merged.set(key, { value });
  return { resolved: split(merged) };
}

/** Adds an object's (selected) keys to the merge; the error when a selected key is missing or unusable. */
function take(o: ConfigObject, selected: string[] | undefined, namespace: string, merged: Map<string, Winner>): ConfigRefError | undefined {
  for (const key of selected ?? [...o.data.keys(), ...o.unusable.keys()]) {
    const why = o.unusable.get(key);
    if (why !== undefined) return new ConfigRefError('ConfigValueInvalid', why);
    const value = o.data.get(key);
    if (value === undefined) return new ConfigRefError('ConfigKeyNotFound', `${o.kind} ${namespace}/${o.name} has no key ${key}`);
    merged.set(key, { value, ...(o.kind === 'Secret' ? { secret: o } : {}) });
  }
  return undefined;
}

function split(merged: Map<string, Winner>): ResolvedConfig {
  const plain: [string, unknown][] = [];
  const secret: [string, string][] = [];
  const used = new Map<string, string>(); // Secret name → resourceVersion
  for (const [key, w] of merged) {
    if (!w.secret) {
      plain.push([key, w.value]);
      continue;
    }
    secret.push([key, w.value as string]);
    used.set(w.secret.name, w.secret.resourceVersion); // one object: the same resourceVersion for each of its keys
  }
  const keys = secret.map(([k]) => k).sort();
  return {
    ...(plain.length ? { config: Object.fromEntries(plain) } : {}),
    ...(keys.length
      ? { secretConfig: { keys, sources: [...used].sort(byName).map(([name, resourceVersion]) => ({ name, resourceVersion })) } }
      : {}),
    secretValues: Object.fromEntries(secret),
  };
}

const byName = (a: [string, string], b: [string, string]) => a[0].localeCompare(b[0]);

/** True when an instance's secretConfig is the one just resolved: the values resolved now are its values. */
export function sameSecretConfig(a: ResolvedConfig['secretConfig'], b: ResolvedConfig['secretConfig']): boolean {
  if (!a || !b) return false;
  return (
    JSON.stringify([a.keys, a.sources.map((s) => [s.name, s.resourceVersion])]) ===
    JSON.stringify([b.keys, b.sources.map((s) => [s.name, s.resourceVersion])])
  );
}
