/**
 * The HTTP layer: TLS, bearer-token authentication, URL routing to discovery, OpenAPI and
 * resource handlers, body decoding (JSON or YAML only; protobuf and CBOR get 415), content
 * negotiation for Tables, and Status replies for every error. Nothing here knows storage
 * rules — those live in handlers.ts over the Store.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import {
  aggregatedContentType,
  aggregatedDiscovery,
  aggregatedVersion,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
} from './discovery.js';
import { ApiError, errors } from './errors.js';
import { goQuote, pathSegmentName } from './names.js';
import { decodeProtobufObject } from './protobuf.js';
import type { ResourceHandlers } from './handlers.js';
import type { OpenApiDocs } from './openapi.js';
import type { ResourceRegistry } from './registry.js';
import { storedJson, type Store } from './store.js';
import { printerFor, tableContentType, toTable, wantsTable, type IncludeObject } from './table.js';
import type { KObject, RequestScope, WriteResult } from './types.js';
import { serveWatch, type ActiveWatch } from './watch.js';

const MAX_BODY = 8 * 1024 * 1024;

/** gnostic openapi_v2.Document{swagger: "2.0"}: field 1, length-delimited. */
const OPENAPI_V2_EMPTY_PROTOBUF = Buffer.from([0x0a, 0x03, 0x32, 0x2e, 0x30]);

export interface HttpDeps {
  store: Store;
  registry: ResourceRegistry;
  handlers: ResourceHandlers;
  openapi: OpenApiDocs;
  token: string;
  tls: { certPem: string; keyPem: string };
  /** host:port clients use, for /api serverAddressByClientCIDRs. */
  address: () => string;
  watchTimeoutSeconds?: number;
}

export const VERSION_INFO = {
  major: '1',
  minor: '30',
  gitVersion: 'v1.30.0-gantry',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.22.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function send(res: ServerResponse, code: number, body: unknown, contentType = 'application/json', warnings: string[] = []): void {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const headers: Record<string, string | string[]> = { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private' };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, e.code, e.toStatus());
}

function readBody(req: IncomingMessage): Promise<string> {
  return readRawBody(req).then((b) => b.toString('utf8'));
}

function readRawBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function decodeObject(contentType: string, body: Buffer): unknown {
  const ct = contentType.split(';')[0].trim().toLowerCase();
  if (ct === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(body);
  const raw = body.toString('utf8');
  if (ct.includes('protobuf') || ct.includes('cbor')) {
    throw errors.unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    );
  }
  if (raw.trim() === '') return undefined;
  try {
    if (ct === 'application/yaml' || ct === 'application/x-yaml') return parseYaml(raw);
    return JSON.parse(raw);
  } catch (e) {
    throw errors.badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const m = h.match(/^Bearer\s+(.+)$/i);
  if (!m) return false;
  const a = Buffer.from(m[1].trim()),
    b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

interface ParsedResourcePath {
  group: string;
  version: string;
  namespace: string;
  plural: string;
  name?: string;
  subresource?: string;
  watchPrefix: boolean;
}

/** `/api/v1/...` or `/apis/g/v/...` → the parts, or undefined for a non-resource path. */
function parseResourcePath(segs: string[]): ParsedResourcePath | undefined {
  let group: string, version: string, rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  const watchPrefix = rest[0] === 'watch';
  if (watchPrefix) rest = rest.slice(1);
  let namespace = '';
  // /namespaces/{name}[/status|/finalize] is the Namespace object itself.
  if (
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(group === '' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))
  ) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 3) return undefined;
  return { group, version, namespace, plural: rest[0], name: rest[1], subresource: rest[2], watchPrefix };
}

export class ApiHttpServer {
  readonly server: Server;
  private readonly watches = new Set<ActiveWatch>();

  constructor(private readonly deps: HttpDeps) {
    this.server = createServer({ cert: deps.tls.certPem, key: deps.tls.keyPem }, (req, res) => {
      this.handle(req, res).catch((e) => {
        const err = e instanceof ApiError ? e : errors.internal((e as Error)?.message ?? String(e));
        sendError(res, err);
      });
    });
    this.server.keepAliveTimeout = 65_000;
  }

  closeWatches(): void {
    for (const w of [...this.watches]) w.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return send(res, 200, 'ok', 'text/plain');
    if (!authorized(req, this.deps.token)) return sendError(res, errors.unauthorized());
    const method = req.method ?? 'GET';
    const segs = path
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    const { registry, openapi } = this.deps;
    const accept = req.headers.accept;

    if (method === 'GET') {
      if (path === '/version') return send(res, 200, VERSION_INFO);
      if (path === '/api' || path === '/apis') {
        const agg = aggregatedVersion(accept);
        if (agg) return send(res, 200, aggregatedDiscovery(registry, path === '/api', agg), aggregatedContentType(agg));
        return send(res, 200, path === '/api' ? apiVersions(this.deps.address()) : apiGroupList(registry));
      }
      if (segs[0] === 'apis' && segs.length === 2) {
        const g = apiGroup(registry, segs[1]);
        return g ? send(res, 200, g) : sendError(res, errors.pathNotFound(path));
      }
      if ((segs[0] === 'api' && segs.length === 2) || (segs[0] === 'apis' && segs.length === 3)) {
        const l = segs[0] === 'api' ? apiResourceList(registry, '', segs[1]) : apiResourceList(registry, segs[1], segs[2]);
        return l ? send(res, 200, l) : sendError(res, errors.pathNotFound(path));
      }
      if (path === '/openapi/v3') return send(res, 200, openapi.index());
      if (path === '/openapi/v2') {
        // An empty Swagger 2.0 document. kubectl ≤1.28 insists on fetching it before it applies;
        // finding no schemas there, it skips client-side validation, as for any unknown kind.
        if ((accept ?? '').includes('protobuf')) return send(res, 200, OPENAPI_V2_EMPTY_PROTOBUF, 'application/octet-stream');
        return send(res, 200, {
          swagger: '2.0',
          info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion },
          paths: {},
          definitions: {},
        });
      }
      if (segs[0] === 'openapi' && segs[1] === 'v3') {
        const doc = openapi.document(segs.slice(2).join('/'));
        return doc ? send(res, 200, doc) : sendError(res, errors.pathNotFound(path));
      }
    }

    const p = parseResourcePath(segs);
    if (!p) return sendError(res, errors.pathNotFound(path));
    const rt = registry.find(p.group, p.version, p.plural);
    if (!rt) return sendError(res, errors.pathNotFound(path));
    if (
      p.subresource &&
      !(
        (p.subresource === 'status' && rt.status) ||
        (p.subresource === 'scale' && rt.scale) ||
        (p.subresource === 'finalize' && rt.plural === 'namespaces')
      )
    ) {
      return sendError(res, errors.pathNotFound(path));
    }
    if (p.namespace && !rt.namespaced) return sendError(res, errors.pathNotFound(path));
    // The storage key functions refuse a name that cannot be a path segment before any verb runs.
    const nameProblems = p.name === undefined ? [] : pathSegmentName(p.name);
    if (nameProblems.length)
      return sendError(res, errors.badRequest(`Name parameter invalid: ${goQuote(p.name!)}: ${nameProblems.join(';')}`));
    const scope: RequestScope = {
      rt,
      version: p.version,
      namespace: p.namespace,
      name: p.name,
      subresource: p.subresource === 'finalize' ? undefined : p.subresource,
      query: url.searchParams,
      userAgent: req.headers['user-agent'],
    };
    const { handlers } = this.deps;
    const isWatch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' || p.watchPrefix;
    const table = wantsTable(accept);
    const include = (url.searchParams.get('includeObject') ?? 'Metadata') as IncludeObject;

    // Write results are (mostly) the stored object, already serialised for the journal and watchers.
    const reply = (r: WriteResult): void => send(res, r.code, storedJson(r.body as KObject), 'application/json', r.warnings);

    switch (method) {
      case 'GET': {
        if (isWatch) return serveWatch(req, res, this.deps.store, handlers, scope, this.watches, this.deps.watchTimeoutSeconds);
        if (!p.name) {
          const l = handlers.list(scope);
          const meta: Record<string, unknown> = { resourceVersion: l.rv };
          if (l.continueToken) meta.continue = l.continueToken;
          if (table) return send(res, 200, toTable(printerFor(rt, p.version), l.items, include, meta), tableContentType(accept));
          return send(res, 200, {
            kind: rt.listKind,
            apiVersion: rt.group ? `${rt.group}/${p.version}` : p.version,
            metadata: meta,
            items: l.items,
          });
        }
        const o = handlers.get(scope);
        if (table && !p.subresource)
          return send(
            res,
            200,
            toTable(printerFor(rt, p.version), [o as KObject], include, { resourceVersion: (o as KObject).metadata.resourceVersion }),
            tableContentType(accept),
          );
        return send(res, 200, storedJson(o as KObject));
      }
      case 'POST': {
        if (p.name) return sendError(res, errors.methodNotAllowed());
        const body = decodeObject(req.headers['content-type'] ?? 'application/json', await readRawBody(req));
        return reply(handlers.create(scope, body));
      }
      case 'PUT': {
        if (!p.name) return sendError(res, errors.methodNotAllowed());
        const body = decodeObject(req.headers['content-type'] ?? 'application/json', await readRawBody(req));
        return reply(handlers.update(scope, body));
      }
      case 'PATCH': {
        if (!p.name) return sendError(res, errors.methodNotAllowed());
        const raw = await readBody(req);
        return reply(handlers.patch(scope, req.headers['content-type'] ?? '', raw));
      }
      case 'DELETE': {
        const body = decodeObject(req.headers['content-type'] ?? 'application/json', await readRawBody(req));
        return reply(p.name ? handlers.delete(scope, body) : handlers.deleteCollection(scope, body));
      }
      default:
        return sendError(res, errors.methodNotAllowed());
    }
  }
}
