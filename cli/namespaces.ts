/**
 * The CLI's namespace mapping (registry/namespaces.ts): the user's
 * `$XDG_CONFIG_HOME/gantry/namespaces.yaml` (default `~/.config/gantry/namespaces.yaml`),
 * overridden key by key by the project's `./gantry.namespaces.yaml`. Every command that takes
 * an archive reference resolves it here first, so `gantry par push x.par acme/payments` and a
 * Provider's `archive.ref: acme/payments` name the same repository.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadNamespaceMap, type MappedRef, type NamespaceMap } from '../registry/index.js';

export const PROJECT_NAMESPACES_FILE = 'gantry.namespaces.yaml';

export function namespaceFiles(cwd = process.cwd()): { path: string; optional: boolean }[] {
  const configHome = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return [
    { path: join(configHome, 'gantry', 'namespaces.yaml'), optional: true },
    { path: resolve(cwd, PROJECT_NAMESPACES_FILE), optional: true },
  ];
}

export function cliNamespaceMap(): NamespaceMap {
  return loadNamespaceMap(namespaceFiles());
}

/** `ref` through the mapping; `--plain-http` is implied when the mapping entry says so. */
export function mapCliRef(ref: string, map: NamespaceMap = cliNamespaceMap()): MappedRef & { plainHttp?: boolean } {
  const m = map.resolve(ref);
  return m.mapped?.entry.plainHttp ? { ...m, plainHttp: true } : m;
}
