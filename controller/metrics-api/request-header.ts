/**
 * Who may call the external metrics API: the Kubernetes API aggregator, proving itself with a
 * client certificate signed by the requestheader client CA (the front-proxy CA) and telling us
 * the end user in X-Remote-User — the contract kube-aggregator keeps with every extension API
 * server. The settings come from a file given on the command line or, as real adapters read
 * them, from the kube-system/extension-apiserver-authentication ConfigMap the kube-apiserver
 * publishes when it runs with --requestheader-client-ca-file.
 */
import { GantryError } from '../../runtime/errors.js';

export interface RequestHeaderConfig {
  /** PEM of the CA the aggregator's proxy client certificate is signed by. */
  clientCaPem: string;
  /** CNs allowed to act as the proxy; empty: any certificate the CA signed (kube-apiserver's own rule). */
  allowedNames: string[];
  /** Headers naming the user, first non-empty wins (default X-Remote-User). */
  usernameHeaders: string[];
  /** Headers naming the user's groups (default X-Remote-Group). */
  groupHeaders: string[];
}

export const EXTENSION_AUTH_CONFIGMAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' };

function jsonList(text: string | undefined, key: string, fallback: string[]): string[] {
  if (text === undefined || text === '') return fallback;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // not JSON: refused below like any other non-list
  }
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    throw new GantryError('REQUESTHEADER_CONFIG', `${key}: not a JSON list of strings`);
  return v;
}

/** The settings from the ConfigMap's data; a ConfigMap without the requestheader CA is refused (no proxy could be recognised). */
export function requestHeaderFromConfigMap(data: Record<string, string> = {}): RequestHeaderConfig {
  const ca = data['requestheader-client-ca-file'];
  if (!ca?.includes('BEGIN CERTIFICATE'))
    throw new GantryError(
      'REQUESTHEADER_CONFIG',
      `${EXTENSION_AUTH_CONFIGMAP.namespace}/${EXTENSION_AUTH_CONFIGMAP.name} has no requestheader-client-ca-file: the kube-apiserver runs without the aggregation layer (--requestheader-client-ca-file), so no request could be authenticated`,
    );
  const usernameHeaders = jsonList(data['requestheader-username-headers'], 'requestheader-username-headers', ['X-Remote-User']);
  if (usernameHeaders.length === 0) throw new GantryError('REQUESTHEADER_CONFIG', 'requestheader-username-headers: empty');
  return {
    clientCaPem: ca,
    allowedNames: jsonList(data['requestheader-allowed-names'], 'requestheader-allowed-names', []),
    usernameHeaders,
    groupHeaders: jsonList(data['requestheader-group-headers'], 'requestheader-group-headers', ['X-Remote-Group']),
  };
}

/** The settings from the cluster's ConfigMap, read once at start. */
export async function readRequestHeaderConfig(client: { get(path: string): Promise<unknown> }): Promise<RequestHeaderConfig> {
  const { namespace, name } = EXTENSION_AUTH_CONFIGMAP;
  let cm: { data?: Record<string, string> };
  try {
    cm = (await client.get(`/api/v1/namespaces/${namespace}/configmaps/${name}`)) as typeof cm;
  } catch (err) {
    throw new GantryError(
      'REQUESTHEADER_CONFIG',
      `cannot read ${namespace}/${name} (the aggregator's client CA): ${(err as Error).message}; grant the controller the extension-apiserver-authentication-reader Role or give --requestheader-client-ca`,
    );
  }
  return requestHeaderFromConfigMap(cm.data);
}
