// gpu:check orchestrator (started by run.sh): every stage under its own
// timeout, all within 8 minutes, one JSON report and one log. Plain Node, no
// TypeScript imports: the parts that need the product call its CLI.
//
//   node scripts/gpu-check/check.mjs [--cpu-dry-run] [--out DIR]
//
// --cpu-dry-run exercises the plumbing on a machine without a GPU: small
// shapes on the CPU, the NCCL/CUDA stand-ins (native/standin) for NCCL, no
// HF peer. Its figures mean nothing; its report says so.
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stages } from './stages/index.mjs';
import { ROOT } from './stages/lib.mjs';

const TOTAL_BUDGET_MS = 8 * 60_000;
const argv = process.argv.slice(2);
const dryRun = argv.includes('--cpu-dry-run');
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : process.env.GPU_CHECK_OUT || join(ROOT, '.gpu-check');
mkdirSync(outDir, { recursive: true });
const logPath = join(outDir, 'check.log');
writeFileSync(logPath, '');
const log = (line) => {
  const text = `[${new Date().toISOString()}] ${line}`;
  appendFileSync(logPath, `${text}\n`);
  console.log(text);
};

const report = {
  tool: 'gradpool gpu:check',
  mode: dryRun ? 'cpu-dry-run (plumbing only: the figures mean nothing)' : 'gpu',
  startedAt: new Date().toISOString(),
  budgetSeconds: TOTAL_BUDGET_MS / 1000,
  stages: {},
};

function writeReport() {
  const path = join(outDir, 'report.json');
  writeFileSync(`${path}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

async function main() {
  const t0 = Date.now();
  const ctx = { dryRun, log, outDir, env: {}, results: report.stages };
  for (const stage of stages) {
    const left = TOTAL_BUDGET_MS - (Date.now() - t0);
    const timeoutMs = Math.min(stage.timeoutS * 1000, left);
    const missing = (stage.needs ?? []).filter((n) => report.stages[n]?.status !== 'ok');
    if (missing.length > 0 || timeoutMs < 5000) {
      const why = missing.length > 0 ? `needs ${missing.join(', ')}` : 'the 8-minute budget is spent';
      report.stages[stage.name] = { status: 'skipped', reason: why };
      log(`== ${stage.name}: skipped (${why})`);
      continue;
    }
    log(`== ${stage.name} (timeout ${Math.round(timeoutMs / 1000)} s)`);
    const s0 = Date.now();
    let result;
    try {
      result = await stage.run({ ...ctx, timeoutMs });
    } catch (err) {
      result = { status: 'failed', error: String(err?.stack ?? err) };
    }
    result.seconds = Math.round((Date.now() - s0) / 100) / 10;
    report.stages[stage.name] = result;
    log(`== ${stage.name}: ${result.status}${result.error ? ` — ${result.error.split('\n')[0]}` : ''}`);
    writeReport();
  }
  report.totalSeconds = Math.round((Date.now() - t0) / 1000);
  report.passed = Object.values(report.stages).every((s) => s.status === 'ok');
  writeReport();
  log(`report: ${join(outDir, 'report.json')}; log: ${logPath}; ${report.passed ? 'all stages passed' : 'NOT all stages passed'}`);
  return report.passed ? 0 : 1;
}

process.exitCode = await main();
