/**
 * The metrics API as the controller runs it: its TLS files read, the aggregator's client CA
 * taken from a file or the cluster's extension-apiserver-authentication ConfigMap, Providers
 * looked up in the controller's informer cache, figures from the source given (the
 * autoscaler's LoadStore).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/log.js';
import type { ProviderFiguresSource } from '../autoscale/contract.js';
import { type InformerSource, providerInformer } from '../informers.js';
import { readRequestHeaderConfig, type RequestHeaderConfig, requestHeaderFromConfigMap } from './request-header.js';
import { type MetricsApiServer, serveMetricsApi } from './server.js';

export interface MetricsApiSettings {
  /** HOST:PORT (--metrics-api-addr); not loopback in a cluster: the aggregator dials the Service's endpoint IP. */
  addr: string;
  /** Serving certificate and key files (--metrics-api-tls-cert/--metrics-api-tls-key), valid for <service>.<namespace>.svc. */
  certFile: string;
  keyFile: string;
  /** The aggregator's client CA file (--requestheader-client-ca); absent: read from kube-system/extension-apiserver-authentication. */
  requestHeaderCaFile?: string;
  /** With the CA file: the proxy CNs allowed (--requestheader-allowed-names; empty: any the CA signed). */
  requestHeaderAllowedNames?: string[];
  /** Where the figures come from: the autoscaler's LoadStore (controller/index.ts wires it); tests give their own. */
  figures?: ProviderFiguresSource;
}

/** No figures at all: every Provider with Ready instances answers 503 (unknown), never a made-up 0. */
const NO_FIGURES: ProviderFiguresSource = { figures: () => undefined };

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError('METRICS_API_TLS', `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export async function startMetricsApi(
  s: MetricsApiSettings,
  deps: { informers: InformerSource; client: { get(path: string): Promise<unknown> }; log: Logger },
): Promise<MetricsApiServer> {
  const certPem = readPem(s.certFile, '--metrics-api-tls-cert');
  const keyPem = readPem(s.keyFile, '--metrics-api-tls-key');
  // a file is checked like the ConfigMap's key: a PEM certificate, or the start fails
  const requestHeader: RequestHeaderConfig = s.requestHeaderCaFile
    ? requestHeaderFromConfigMap({
        'requestheader-client-ca-file': readPem(s.requestHeaderCaFile, '--requestheader-client-ca'),
        'requestheader-allowed-names': JSON.stringify(s.requestHeaderAllowedNames ?? []),
      })
    : await readRequestHeaderConfig(deps.client);
  const providers = providerInformer(deps.informers);
  const server = await serveMetricsApi({
    addr: s.addr,
    certPem,
    keyPem,
    requestHeader,
    figures: s.figures ?? NO_FIGURES,
    provider: (namespace, name) => {
      const p = providers.get(name, namespace);
      return p && { readyReplicas: p.status?.readyReplicas ?? 0 };
    },
    log: deps.log,
  });
  deps.log.info({ url: server.url, allowedNames: requestHeader.allowedNames }, 'external metrics API serving');
  return server;
}
