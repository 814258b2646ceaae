// Stage 3: CUDA parity of the libtorch engine with the PyTorch reference:
// logits, the summed loss and every gradient within 1e-4 (float32, TF32 off)
// and 3e-2 (bf16 mixed precision vs bf16 autocast), relative L2.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERE, lastJson, run } from './lib.mjs';

const TOLERANCE = { fp32: 1e-4, bf16: 3e-2 };

export const parityStage = {
  name: 'parity',
  timeoutS: 60,
  needs: ['build'],
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'gp-parity-'));
    const device = ctx.dryRun ? 'cpu' : 'cuda';
    try {
      const ref = await run(ctx.env.GRADPOOL_TORCH_PYTHON, [join(HERE, 'parity-reference.py'), dir, device], { env: ctx.env, timeoutMs: ctx.timeoutMs / 2, log: ctx.log });
      if (ref.code !== 0) return { status: 'failed', error: `the reference failed (exit ${ref.code ?? ref.signal}${ref.timedOut ? ', timed out' : ''})` };
      const ours = await run(process.execPath, [join(HERE, 'parity-engine.mjs'), dir, device], { env: ctx.env, timeoutMs: ctx.timeoutMs / 2, log: ctx.log });
      const errors = lastJson(ours.stdout);
      if (ours.code !== 0 || !errors) return { status: 'failed', error: `the engine side failed (exit ${ours.code ?? ours.signal})` };
      const bad = Object.entries(errors).flatMap(([p, e]) =>
        Object.entries(e).filter(([, v]) => !(v <= TOLERANCE[p])).map(([k, v]) => `${p} ${k} ${v.toExponential(2)} > ${TOLERANCE[p]}`));
      return { status: bad.length === 0 ? 'ok' : 'failed', tolerance: TOLERANCE, relativeErrors: errors, ...(bad.length ? { error: bad.join('; ') } : {}) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
