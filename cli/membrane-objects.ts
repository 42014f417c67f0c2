/**
 * The Kubernetes objects that hold the membrane and the bus's TLS, built in one place so
 * `gantry membrane init` (files for kubectl) and `gantry install` (created through the API)
 * make the very same Secrets and ConfigMaps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_FILES, TLS_SECRET_FILES } from '../membrane/index.js';

export const SYSTEM_NS = 'gantry-system';
/** The membrane's keys go where no agent may read them (deploy/base/namespace.yaml). */
export const KEYS_NS = 'gantry-membrane';
export const KEYS_SECRET = 'gantry-membrane-keys';
export const MEMBRANE_CONFIGMAP = 'gantry-nats-membrane';
export const NATS_TLS_SECRET = 'gantry-nats-tls';
export const NATS_CA_CONFIGMAP = 'gantry-nats-ca';
export const TRUST_CONFIGMAP = 'gantry-trust';

const labels = () => ({ 'app.kubernetes.io/part-of': 'gantry' });

export interface Seeds {
  operator: string;
  system: string;
  account: string;
}

/** The Secret of the three seeds (stringData: what kubectl and the API both take). */
export function membraneKeysSecret(seeds: Seeds, namespace = KEYS_NS) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: KEYS_SECRET, namespace, labels: labels() },
    stringData: { [KEY_FILES.operator]: seeds.operator, [KEY_FILES.system]: seeds.system, [KEY_FILES.account]: seeds.account },
  };
}

/** The nats-server operator-mode fragment (public: the operator and account JWTs). */
export function natsMembraneConfigMap(conf: string, namespace = SYSTEM_NS) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: MEMBRANE_CONFIGMAP, namespace, labels: labels() },
    data: { 'membrane.conf': conf },
  };
}

/**
 * From a directory laid out as a kubernetes.io/tls Secret (bus-pki.ts): that Secret, with
 * ca.crt (the shape of a cert-manager Certificate's Secret, which may replace it), for the
 * NATS pods, and a ConfigMap of the CA certificate alone for the controller and agents.
 */
export function busTlsObjects(tlsDir: string, namespace = SYSTEM_NS) {
  const read = (f: string) => readFileSync(join(tlsDir, f), 'utf8');
  const ca = read(TLS_SECRET_FILES.ca);
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: NATS_TLS_SECRET, namespace, labels: labels() },
    stringData: { 'tls.crt': read(TLS_SECRET_FILES.cert), 'tls.key': read(TLS_SECRET_FILES.key), 'ca.crt': ca },
  };
  const caMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: NATS_CA_CONFIGMAP, namespace, labels: labels() },
    data: { 'ca.crt': ca },
  };
  return { secret, caMap };
}

/** deploy/base/trust-policy.yaml's keys, filled in. */
export function trustConfigMap(issuers: string[], plainHttp: string[], namespace = SYSTEM_NS) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: TRUST_CONFIGMAP, namespace, labels: labels() },
    data: { 'trusted-issuers': issuers.join(','), 'plain-http-registries': plainHttp.join(','), 'log-keys': '', 'require-log': 'false' },
  };
}
