/** The kubeconfig the emulator writes for its clients: embedded CA data and a bearer token. */
import { stringify } from 'yaml';

export function kubeconfigYaml(url: string, caPem: string, token: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gantry-sandbox', cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'gantry-admin', user: { token } }],
    contexts: [{ name: 'gantry-sandbox', context: { cluster: 'gantry-sandbox', user: 'gantry-admin', namespace } }],
    'current-context': 'gantry-sandbox',
    preferences: {},
  });
}
