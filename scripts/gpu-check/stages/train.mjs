// Stage 7: `gradpool train` of a small job on CUDA end to end (the bundled
// demo job, 30 steps, torch engine on cuda:0), through the CLI: it must say
// it trains with torch on CUDA, and its loss must come down.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run } from './lib.mjs';

export const trainStage = {
  name: 'train',
  timeoutS: 90,
  needs: ['build'],
  async run(ctx) {
    const name = `gpu-check-${Date.now()}`;
    const r = await run(process.execPath, ['bin/gradpool.js', 'train', 'examples/demo-grimm.yaml', '--engine', 'torch', '--steps', '30', '--name', name], {
      env: { ...ctx.env, ...(ctx.dryRun ? {} : { GRADPOOL_TORCH_DEVICE: 'cuda:0' }) }, timeoutMs: ctx.timeoutMs, log: ctx.log,
    });
    const text = r.stdout + r.stderr;
    const engine = /Engine\s+\|\s+(torch\/[^|]*?)\s+\|/.exec(text)?.[1];
    const losses = [...text.matchAll(/step \d+\/\d+ loss ([\d.]+)/g)].map((m) => Number(m[1]));
    const tokensPerSecond = [...text.matchAll(/ (\d+) tok\/s/g)].map((m) => Number(m[1])).at(-1);
    const problems = [
      ...(r.code === 0 ? [] : [`exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}`]),
      ...(ctx.dryRun || engine?.startsWith('torch/cuda') ? [] : [`the run did not say it trains with torch on CUDA (engine: ${engine ?? 'unknown'})`]),
      ...(losses.length >= 2 && losses.at(-1) < losses[0] ? [] : [`the loss did not come down (${losses.join(' → ') || 'no step lines'})`]),
    ];
    if (ctx.dryRun) rmSync(join(ROOT, 'runs', name), { recursive: true, force: true });
    return {
      status: problems.length ? 'failed' : 'ok', run: `runs/${name}`, engine: engine ?? null, losses,
      ...(tokensPerSecond ? { tokensPerSecond } : {}), ...(problems.length ? { error: problems.join('; ') } : {}),
    };
  },
};
