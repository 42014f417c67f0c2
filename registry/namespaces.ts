/**
 * Namespace mapping: short archive names (`acme/payments`) → the registry repository that
 * holds them (`registry.acme.example/providers/acme/payments`), after the SIG-registries
 * federation work (a namespace is a name people write; where it lives is configuration).
 *
 * A mapping file (YAML, docs/transparency-federation.md) has one `namespaces` table; a key
 * is either a prefix pattern `acme/*` (the rest of the name is appended to the registry
 * path) or an exact name `acme/payments`; the most specific key wins (an exact name over any
 * pattern, a longer pattern over a shorter one). A value is the registry repository
 * (`HOST[:PORT]/PATH`), or an object that also says how to reach it:
 *
 *   namespaces:
 *     acme/*: registry.acme.example/providers/acme
 *     tools/*:
 *       registry: 127.0.0.1:5000/tools
 *       plainHttp: true                     # this registry has no TLS
 *       via: mirror.example/tools           # pull through this mirror (verified against the origin)
 *       logKey: origin+1a2b3c4d+AQ...       # the origin log's verifier key (C2SP note key)
 *
 * Which references are short: as Docker decides, a reference whose first component has no
 * `.` or `:` and is not `localhost` (`acme/payments`, not `127.0.0.1:5000/acme` or
 * `ghcr.io/acme`). Full references and `oci-layout:` are never rewritten. When a mapping is in
 * force, a short name that no key matches is an error (UNMAPPED_NAME) rather than a registry
 * host called `acme`; with no mapping at all, references are taken literally as before.
 *
 * Several files layer: later ones override earlier ones key by key (the CLI reads the user's
 * `~/.config/gantry/namespaces.yaml`, then the project's `./gantry.namespaces.yaml`).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RegistryError } from './errors.js';
import { parseArchiveRef } from './reference.js';

const keyPattern = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?:\/\*)?$/;

const registryRepo = z.string().refine((s) => isFullRegistryRef(s), {
  message: 'must be a registry repository HOST[:PORT]/PATH (the host has a "." or ":" or is localhost)',
});

const Entry = z.union([
  registryRepo,
  z.strictObject({
    registry: registryRepo,
    plainHttp: z.boolean().optional(),
    via: registryRepo.optional(),
    logKey: z.string().min(1).max(512).optional(),
  }),
]);

export const NamespaceFile = z.strictObject({
  namespaces: z.record(
    z.string().regex(keyPattern, 'a key is a short name (acme/payments) or a prefix pattern ending in /* (acme/*)'),
    Entry,
  ),
});

export interface NamespaceEntry {
  /** `acme/*` or `acme/payments` */
  key: string;
  registry: string;
  plainHttp?: boolean;
  via?: string;
  logKey?: string;
  /** the file it came from, for messages */
  source: string;
}

/** What a reference resolved to. `mapped` is absent when the reference was already full. */
export interface MappedRef {
  ref: string;
  mapped?: { short: string; entry: NamespaceEntry };
  /** the mirror to pull through (entry.via, rewritten for this name) */
  via?: string;
}

export class NamespaceMap {
  constructor(readonly entries: readonly NamespaceEntry[] = []) {}

  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** Layers `over` on this map: its keys replace this map's keys. */
  overlay(over: NamespaceMap): NamespaceMap {
    const keys = new Set(over.entries.map((e) => e.key));
    return new NamespaceMap([...this.entries.filter((e) => !keys.has(e.key)), ...over.entries]);
  }

  /** The full registry reference for `ref` (unchanged when it is full or oci-layout:). */
  resolve(ref: string): MappedRef {
    if (!isShortName(ref) || this.empty) return { ref };
    const entry = this.match(ref);
    if (!entry) {
      const ns = ref.split('/')[0];
      throw new RegistryError(
        'UNMAPPED_NAME',
        `"${ref}" is a short name (its first part "${ns}" has no "." or ":"), but no namespace mapping matches it (mappings from ${[...new Set(this.entries.map((e) => e.source))].join(', ')}); add "${ns}/*: HOST[:PORT]/PATH" to the mapping or write the full HOST[:PORT]/REPOSITORY`,
      );
    }
    const rest = entry.key.endsWith('/*') ? ref.slice(entry.key.length - 1) : '';
    const full = entry.registry + (rest ? `/${rest}` : '');
    parseArchiveRef(full); // the rewritten name must still be a valid repository
    return { ref: full, mapped: { short: ref, entry }, ...(entry.via ? { via: entry.via + (rest ? `/${rest}` : '') } : {}) };
  }

  private match(name: string): NamespaceEntry | undefined {
    let best: NamespaceEntry | undefined;
    let bestScore = -1;
    for (const e of this.entries) {
      let score: number;
      if (e.key === name) score = Number.MAX_SAFE_INTEGER;
      else if (e.key.endsWith('/*') && name.startsWith(e.key.slice(0, -1)) && name.length > e.key.length - 1) score = e.key.length;
      else continue;
      if (score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best;
  }
}

/** Docker's rule: the first component names a host when it has a "." or ":" or is localhost. */
export function isShortName(ref: string): boolean {
  if (ref.startsWith('oci-layout:')) return false;
  const first = ref.split('/')[0];
  return ref.includes('/') && !/[.:]/.test(first) && first !== 'localhost' && !first.startsWith('[');
}

function isFullRegistryRef(s: string): boolean {
  if (isShortName(s) || s.startsWith('oci-layout:')) return false;
  try {
    return parseArchiveRef(s).kind === 'registry';
  } catch {
    return false;
  }
}

/** Parses one mapping file's text; `source` names it in errors. */
export function parseNamespaceMap(text: string, source: string): NamespaceMap {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new RegistryError('BAD_NAMESPACE_MAP', `${source}: not YAML: ${(e as Error).message}`);
  }
  const r = NamespaceFile.safeParse(doc ?? { namespaces: {} });
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new RegistryError(
      'BAD_NAMESPACE_MAP',
      `${source}: ${issues}; expected "namespaces:" mapping a short name or pattern (acme/*) to HOST[:PORT]/PATH or {registry, plainHttp, via, logKey}`,
    );
  }
  return new NamespaceMap(
    Object.entries(r.data.namespaces).map(([key, v]) => (typeof v === 'string' ? { key, registry: v, source } : { key, ...v, source })),
  );
}

/** Reads and layers mapping files in order (later ones win key by key); missing optional files are skipped. */
export function loadNamespaceMap(files: { path: string; optional?: boolean }[]): NamespaceMap {
  let map = new NamespaceMap();
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch (e) {
      if (f.optional && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new RegistryError('BAD_NAMESPACE_MAP', `cannot read namespace mapping ${f.path}: ${(e as Error).message}`);
    }
    map = map.overlay(parseNamespaceMap(text, f.path));
  }
  return map;
}
