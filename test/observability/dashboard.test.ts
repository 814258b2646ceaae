import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { startCluster, type Cluster } from '../service/harness.ts';
import { freePort, until } from './helpers.ts';

/**
 * The dashboard in a real headless Chromium (Debian's, driven by
 * playwright-core; scripts/setup.sh installs it): the page loads without
 * console errors, a running job's loss curve gains points as steps arrive,
 * the cancel button cancels it. Behind GRADPOOL_DASHBOARD_TOKEN, entered once
 * as ?token=. The screenshot goes to a scratch folder (its path is printed);
 * GRADPOOL_UPDATE_SCREENSHOT=1 also copies it to docs/dashboard.png.
 */
const CHROMIUM = [process.env.GRADPOOL_CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => p && existsSync(p));
const TOKEN = 'dashboard-test-token';

let cluster: Cluster;
let base: string;
let browser: Browser;
before(async () => {
  if (!CHROMIUM) return;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  cluster = await startCluster({ workers: 0, env: { GRADPOOL_METRICS_PORT: String(port), GRADPOOL_DASHBOARD_TOKEN: TOKEN } });
  cluster.addWorker({ GRADPOOL_METRICS_PORT: '0' });
  await until('the worker to register', 20_000, async () => (await cluster.redis.keys(`${cluster.prefix}:worker:*`)).length === 1);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
after(async () => {
  await browser?.close();
  await cluster?.stop();
});

test('the dashboard: no console errors, a live loss curve, Bull Board, and a cancel button that cancels', { skip: CHROMIUM ? false : 'no Chromium (apt-get install chromium, or set GRADPOOL_CHROMIUM)' }, async () => {
  const dir = scratchDir('dashboard');
  // Long enough to watch (it is cancelled), with evaluations for the perplexity and accuracy curves.
  const job = testJob(dir, { name: 'dashboard' }, { max_steps: 2000, eval_interval: 5, max_eval_samples: 8, checkpoint_interval: 25 });
  const id = await cluster.client.submit(job, { worldSize: 1 });

  assert.equal((await fetch(`${base}/api/pool`)).status, 401, 'the token is required');
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/?token=${TOKEN}&run=${encodeURIComponent(id)}`);

  const points = async () => Number(await page.getAttribute('#chart-loss', 'data-points'));
  const first = await until('the first points of the loss curve', 60_000, async () => ((await points()) >= 2 ? points() : null));
  const later = await until('the curve to gain points', 30_000, async () => {
    const n = await points();
    return n > first ? n : null;
  });
  assert.ok(later > first);
  // A few evaluations on the perplexity curve (and a screenshot worth looking at).
  await until('evaluations on the perplexity curve', 60_000, async () => Number(await page.getAttribute('#chart-perplexity', 'data-points')) >= 5);
  // The pool, the runs and the run's plan are on the page.
  assert.equal(await page.locator('#workers tbody tr').count(), 1);
  assert.match((await page.locator('#workers tbody tr').first().textContent()) ?? '', new RegExp(`busy.*${id}#0`));
  assert.match((await page.locator(`#runs tr[data-run="${id}"]`).textContent()) ?? '', /RUNNING.*stage 0 step \d+\/2000/);
  assert.equal(await page.locator('#plans tbody tr').count(), 1);
  const cells = await page.locator('#plans tbody td').allTextContents();
  // stage, seq len, world size, micro batch, global batch, accumulation, (epochs), max steps, warmup
  assert.deepEqual([...cells.slice(0, 6), ...cells.slice(7)], ['0', '32', '1', '4', '16', '4', '2000', '2']);
  await until('a checkpoint in the table', 30_000, async () => (await page.locator('#checkpoints tbody tr').count()) >= 1);

  const shot = join(dir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  process.stderr.write(`dashboard screenshot: ${shot}\n`);
  if (process.env.GRADPOOL_UPDATE_SCREENSHOT) copyFileSync(shot, new URL('../../docs/dashboard.png', import.meta.url).pathname);

  // Bull Board, mounted under /queues, sees the jobs queue and each worker's rank queue (the page's cookie carries the token).
  const queues = await page.evaluate(async () => (await (await fetch('/queues/api/queues?activeQueue=&page=1&jobsPerPage=10')).json()) as { queues: Array<{ name: string }> });
  const names = queues.queues.map((q) => q.name).sort();
  assert.equal(names[0], 'gradpool-jobs');
  assert.ok(names.length >= 2 && names.slice(1).every((n) => n.startsWith('gradpool-ranks.')), `rank queues per worker: ${names.join(', ')}`);
  // And its page renders them.
  const board = await context.newPage(); // the same context: it carries the token's cookie
  await board.goto(`${base}/queues/`);
  await board.getByText(/gradpool-ranks\./).first().waitFor({ timeout: 30_000 });
  await board.close();

  // A cancel without the dashboard's header (what a cross-site form could send) is refused.
  const forged = await fetch(`${base}/api/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(forged.status, 403);
  await page.click('#cancel');
  await until('the page to show the run cancelled', 60_000, async () => (await page.textContent('#run-state')) === 'CANCELLED');
  const status = await cluster.client.status(id);
  assert.equal(status.state, 'CANCELLED');
  assert.ok(await page.isDisabled('#cancel'), 'no cancel button for a finished run');
  assert.deepEqual(errors, [], 'console errors');
});
