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

/** A 200 answer: the body and, when not JSON, its content type. */
type Answer = [body: unknown, contentType?: string];

/** `v`, or 404 for `path` when there is none. */
function found<T>(v: T | undefined, path: string): T {
  if (!v) throw errors.pathNotFound(path);
  return v;
}

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
    const answer = method === 'GET' ? this.nonResource(path, segs, req.headers.accept) : undefined;
    if (answer) return send(res, 200, ...answer);
    const { scope, parsed } = this.resourceScope(path, segs, url, req);
    const { handlers } = this.deps;
    // Write results are (mostly) the stored object, already serialised for the journal and watchers.
    const reply = (r: WriteResult): void => send(res, r.code, storedJson(r.body as KObject), 'application/json', r.warnings);
    const body = async () => decodeObject(req.headers['content-type'] ?? 'application/json', await readRawBody(req));
    switch (method) {
      case 'GET': {
        const isWatch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' || parsed.watchPrefix;
        if (isWatch) return serveWatch(req, res, this.deps.store, handlers, scope, this.watches, this.deps.watchTimeoutSeconds);
        return send(res, 200, ...this.read(scope, parsed, req.headers.accept));
      }
      case 'POST':
        if (scope.name) return sendError(res, errors.methodNotAllowed());
        return reply(handlers.create(scope, await body()));
      case 'PUT':
        if (!scope.name) return sendError(res, errors.methodNotAllowed());
        return reply(handlers.update(scope, await body()));
      case 'PATCH':
        if (!scope.name) return sendError(res, errors.methodNotAllowed());
        return reply(handlers.patch(scope, req.headers['content-type'] ?? '', await readBody(req)));
      case 'DELETE': {
        const options = await body();
        return reply(scope.name ? handlers.delete(scope, options) : handlers.deleteCollection(scope, options));
      }
      default:
        return sendError(res, errors.methodNotAllowed());
    }
  }

  /** Version, discovery and OpenAPI (GET only): the answer, or undefined for a resource path. */
  private nonResource(path: string, segs: string[], accept: string | undefined): Answer | undefined {
    const { registry, openapi } = this.deps;
    if (path === '/version') return [VERSION_INFO];
    if (path === '/api' || path === '/apis') {
      const agg = aggregatedVersion(accept);
      if (agg) return [aggregatedDiscovery(registry, path === '/api', agg), aggregatedContentType(agg)];
      return [path === '/api' ? apiVersions(this.deps.address()) : apiGroupList(registry)];
    }
    if (segs[0] === 'apis' && segs.length === 2) return [found(apiGroup(registry, segs[1]), path)];
    if ((segs[0] === 'api' && segs.length === 2) || (segs[0] === 'apis' && segs.length === 3)) {
      const l = segs[0] === 'api' ? apiResourceList(registry, '', segs[1]) : apiResourceList(registry, segs[1], segs[2]);
      return [found(l, path)];
    }
    if (path === '/openapi/v3') return [openapi.index()];
    if (path === '/openapi/v2') {
      // An empty Swagger 2.0 document. kubectl ≤1.28 insists on fetching it before it applies;
      // finding no schemas there, it skips client-side validation, as for any unknown kind.
      if ((accept ?? '').includes('protobuf')) return [OPENAPI_V2_EMPTY_PROTOBUF, 'application/octet-stream'];
      return [{ swagger: '2.0', info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion }, paths: {}, definitions: {} }];
    }
    if (segs[0] === 'openapi' && segs[1] === 'v3') return [found(openapi.document(segs.slice(2).join('/')), path)];
    return undefined;
  }

  /** The resource a path names, with its subresource and name checked: 404 (or 400 for a bad name) otherwise. */
  private resourceScope(path: string, segs: string[], url: URL, req: IncomingMessage): { scope: RequestScope; parsed: ParsedResourcePath } {
    const p = parseResourcePath(segs);
    if (!p) throw errors.pathNotFound(path);
    const rt = this.deps.registry.find(p.group, p.version, p.plural);
    if (!rt) throw errors.pathNotFound(path);
    const sub = p.subresource;
    if (sub && !((sub === 'status' && rt.status) || (sub === 'scale' && rt.scale) || (sub === 'finalize' && rt.plural === 'namespaces')))
      throw errors.pathNotFound(path);
    if (p.namespace && !rt.namespaced) throw errors.pathNotFound(path);
    // The storage key functions refuse a name that cannot be a path segment before any verb runs.
    const nameProblems = p.name === undefined ? [] : pathSegmentName(p.name);
    if (nameProblems.length) throw errors.badRequest(`Name parameter invalid: ${goQuote(p.name!)}: ${nameProblems.join(';')}`);
    const scope: RequestScope = {
      rt,
      version: p.version,
      namespace: p.namespace,
      name: p.name,
      subresource: sub === 'finalize' ? undefined : sub,
      query: url.searchParams,
      userAgent: req.headers['user-agent'],
    };
    return { scope, parsed: p };
  }

  /** GET of one object or a list, as JSON or (when asked for) a Table. */
  private read(scope: RequestScope, parsed: ParsedResourcePath, accept: string | undefined): Answer {
    const { rt, version } = scope;
    const table = wantsTable(accept);
    const include = (scope.query.get('includeObject') ?? 'Metadata') as IncludeObject;
    if (!scope.name) {
      const l = this.deps.handlers.list(scope);
      const meta: Record<string, unknown> = { resourceVersion: l.rv };
      if (l.continueToken) meta.continue = l.continueToken;
      if (table) return [toTable(printerFor(rt, version), l.items, include, meta), tableContentType(accept)];
      return [{ kind: rt.listKind, apiVersion: rt.group ? `${rt.group}/${version}` : version, metadata: meta, items: l.items }];
    }
    const o = this.deps.handlers.get(scope) as KObject;
    // a Table of the object itself; a subresource (status, scale, finalize) stays JSON
    if (table && !parsed.subresource)
      return [toTable(printerFor(rt, version), [o], include, { resourceVersion: o.metadata.resourceVersion }), tableContentType(accept)];
    return [storedJson(o)];
  }
}
