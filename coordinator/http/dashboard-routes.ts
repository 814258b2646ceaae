import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { QueueSet } from './queue-set.ts';
import type { RouteHandler } from '../../common/metrics-server.ts';
import type { GradpoolClient } from '../gradpool-client.ts';
import type { PoolView } from './pool-view.ts';

/**
 * The dashboard's routes on the coordinator's metrics port:
 *   /                         the page (dashboard/index.html, plain JS, no build step)
 *   /assets/*                 its script and style, and uPlot from node_modules (no CDN)
 *   /api/pool                 workers, runs, queue counts
 *   /api/runs/:id             one run: status, stage plans, checkpoints, curves from logs/train.jsonl
 *   POST /api/runs/:id/cancel cancels the run (GradpoolClient.cancel; header X-Gradpool-Action: cancel)
 *   /queues/*                 Bull Board over both queues
 */
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const uplotDist = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: join(here, 'dashboard/index.html'), type: 'text/html; charset=utf-8' },
  '/assets/dashboard.js': { file: join(here, 'dashboard/dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/dashboard.css': { file: join(here, 'dashboard/dashboard.css'), type: 'text/css; charset=utf-8' },
  '/assets/uplot.js': { file: join(uplotDist, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/uplot.css': { file: join(uplotDist, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const json = (res: ServerResponse, status: number, body: unknown): void =>
  void res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));

export function dashboardRoutes(o: { view: PoolView; client: GradpoolClient; queues: QueueSet }): RouteHandler {
  const board = new ExpressAdapter().setBasePath('/queues');
  const bull = createBullBoard({ queues: o.queues.all().map((q) => new BullMQAdapter(q)), serverAdapter: board, options: { uiConfig: { boardTitle: 'gradpool queues' } } });
  // A worker that joins later brings its rank queue.
  o.queues.whenAdded((q) => bull.addQueue(new BullMQAdapter(q)));
  const boardApp = board.getRouter() as (req: IncomingMessage, res: ServerResponse) => void;

  const api = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (path === '/api/pool' && req.method === 'GET') {
      const [workers, runs, counts] = await Promise.all([
        o.view.workers(),
        o.view.runs(),
        o.queues.refresh().then(() => Promise.all(o.queues.all().map(async (q) => [q.name, await q.getJobCounts()] as const))),
      ]);
      return json(res, 200, { workers, runs, queues: Object.fromEntries(counts), now: Date.now() });
    }
    const m = /^\/api\/runs\/([^/]+)(\/cancel)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (m[2] && req.method === 'POST') {
        // A custom header makes a cross-site POST need a CORS preflight, which this server never grants:
        // another web page in the operator's browser cannot cancel runs.
        if (req.headers['x-gradpool-action'] !== 'cancel') return json(res, 403, { error: 'send the header X-Gradpool-Action: cancel' });
        await o.client.cancel(id);
        return json(res, 200, { id, cancelled: true });
      }
      if (!m[2] && req.method === 'GET') {
        const run = await o.view.run(id);
        return run ? json(res, 200, run) : json(res, 404, { error: `no run ${id}` });
      }
    }
    json(res, 404, { error: `no route ${req.method} ${path}` });
  };

  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/queues' || path.startsWith('/queues/')) {
      // Bull Board's express app is mounted at /queues: it sees the path below it.
      req.url = req.url!.slice('/queues'.length) || '/';
      void o.queues.refresh().catch(() => {}).then(() => boardApp(req, res));
      return;
    }
    if (path.startsWith('/api/')) {
      api(req, res, path).catch((e: Error) => json(res, 500, { error: e.message }));
      return;
    }
    const asset = ASSETS[path];
    if (asset && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': asset.type }).end(readFileSync(asset.file));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
  };
}
