/**
 * The dashboard's HTTP server: the page (dashboard/page/, read once at start), GET /api/state
 * and GET /api/events. Read-only and guarded (guards.ts): a request with a foreign Host is 421,
 * a method other than GET/HEAD 405, an unknown path 404; every reply carries the security
 * headers and none a CORS header.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../runtime/paths.js';
import type { EventHub } from './events.js';
import { hostAllowed, methodAllowed, READ_METHODS, SECURITY_HEADERS } from './guards.js';

const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export function pageDir(): string {
  return join(packageRoot(), 'dashboard', 'page');
}

export interface HandlerOptions {
  state: () => string;
  events: EventHub;
  allowedHosts?: string[];
  /** Where the page's files are (default dashboard/page in the package). */
  pageDir?: string;
}

export function dashboardHandler(o: HandlerOptions): http.RequestListener {
  const dir = o.pageDir ?? pageDir();
  const page = new Map(Object.entries(PAGE_FILES).map(([path, f]) => [path, { body: readFileSync(join(dir, f.file)), type: f.type }]));
  return (req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const reply = (code: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const text = (code: number, msg: string, extra?: Record<string, string>) => reply(code, 'text/plain; charset=utf-8', `${msg}\n`, extra);
    if (!hostAllowed(req.headers.host, o.allowedHosts ?? [])) {
      // 421 Misdirected Request: this server does not answer for that name (DNS rebinding)
      return text(421, `host ${JSON.stringify(req.headers.host ?? '')} is not this dashboard's (use http://127.0.0.1 or localhost)`);
    }
    if (!methodAllowed(req.method))
      return text(405, `${req.method} not allowed: the dashboard is read-only`, { Allow: READ_METHODS.join(', ') });
    const path = (req.url ?? '/').split('?')[0];
    const file = page.get(path);
    if (file) return reply(200, file.type, file.body);
    // browsers ask for it unprompted: an empty answer, not a 404 in the console
    if (path === '/favicon.ico') return reply(204, 'image/x-icon', '');
    if (path === '/api/state') return reply(200, 'application/json; charset=utf-8', o.state());
    if (path === '/api/events') {
      if (req.method === 'HEAD') return reply(200, 'text/event-stream; charset=utf-8', '');
      if (o.events.full) return text(503, 'too many open event streams; try again later', { 'Retry-After': '5' });
      return o.events.add(res);
    }
    return text(404, `no ${path} here`);
  };
}
