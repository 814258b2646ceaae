import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * The HTTP endpoint every service process has (the coordinator and each
 * worker): GET /metrics (Prometheus text from the process's own registry,
 * plus any `extraMetrics` text), GET /healthz, and whatever `handler` serves
 * (the coordinator's dashboard). Where it listens:
 *
 *   GRADPOOL_METRICS_PORT  the port; 0 = no server. Default: the process's
 *                          (9464 for the coordinator, 9465 + worker index for workers)
 *   GRADPOOL_METRICS_HOST  the address to bind; default 127.0.0.1 (this machine only)
 *   GRADPOOL_DASHBOARD_TOKEN  when set, every request but /healthz needs it:
 *                          `Authorization: Bearer <token>`, or `?token=<token>` once
 *                          (a browser then keeps it in a cookie)
 *
 * A port already in use is a log line, not a crash: metrics never take a
 * service process down.
 */
export interface MetricsAddress {
  host: string;
  port: number;
}

/** Where this process serves, or null when GRADPOOL_METRICS_PORT is 0. */
export function metricsAddressFromEnv(defaultPort: number, env: NodeJS.ProcessEnv = process.env): MetricsAddress | null {
  const raw = env.GRADPOOL_METRICS_PORT;
  const port = raw === undefined || raw === '' ? defaultPort : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`GRADPOOL_METRICS_PORT: a port number (0 = off) expected, got "${raw}"`);
  if (port === 0) return null;
  return { host: env.GRADPOOL_METRICS_HOST || '127.0.0.1', port };
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface MetricsServerOptions {
  address: MetricsAddress;
  registry: Registry;
  /** More exposition text appended to the registry's (e.g. BullMQ's queue gauges). */
  extraMetrics?: () => Promise<string>;
  /** The process's health: ok false answers 503 with the detail. */
  health: () => Promise<{ ok: boolean; detail: string }>;
  /** Every other path (the dashboard); default 404. */
  handler?: RouteHandler;
  token?: string | null;
  log: (line: string) => void;
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

const COOKIE = 'gradpool_token';

/** Whether the request carries the token (header, cookie, or ?token=, which sets the cookie). */
function authorized(req: IncomingMessage, res: ServerResponse, token: string): boolean {
  if (req.headers.authorization === `Bearer ${token}`) return true;
  const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
  if (cookies.includes(`${COOKIE}=${encodeURIComponent(token)}`)) return true;
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  if (q === token) {
    res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
    return true;
  }
  return false;
}

async function serve(o: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  // /healthz stays open: probes cannot carry a secret, and it reveals nothing.
  if (path === '/healthz') {
    const h = await o.health().catch((e: Error) => ({ ok: false, detail: e.message }));
    res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${h.ok ? 'ok' : 'unhealthy'}: ${h.detail}\n`);
    return;
  }
  if (o.token && !authorized(req, res, o.token)) {
    res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8', 'WWW-Authenticate': 'Bearer' }).end('GRADPOOL_DASHBOARD_TOKEN is set: send it as "Authorization: Bearer <token>" or ?token=<token>\n');
    return;
  }
  if (path === '/metrics' && req.method === 'GET') {
    const own = await o.registry.metrics();
    const extra = o.extraMetrics ? await o.extraMetrics() : '';
    res.writeHead(200, { 'Content-Type': o.registry.contentType }).end(extra ? `${own.trimEnd()}\n${extra.trimEnd()}\n` : own);
    return;
  }
  if (o.handler) return o.handler(req, res);
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
}

/** Starts the endpoint; null (after a log line) when the port is taken. */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer | null> {
  const server: Server = createServer((req, res) => {
    serve(o, req, res).catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`error: ${e.message}\n`);
    });
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      o.log(`metrics: cannot listen on ${o.address.host}:${o.address.port} (${e.code ?? e.message}); no /metrics in this process (set GRADPOOL_METRICS_PORT)`);
      resolve(false);
    });
    server.listen(o.address.port, o.address.host, () => resolve(true));
  });
  if (!listening) return null;
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const url = `http://${host}:${a.port}`;
  o.log(`metrics and health on ${url}/metrics${o.handler ? `, dashboard on ${url}/` : ''}${o.token ? ' (token required)' : ''}`);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
