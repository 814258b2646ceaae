import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareRun } from '../../train/prepare-run.ts';
import { createEngine } from '../../engine/create-engine.ts';
import { SingleProcessSync } from '../../train/gradient-sync.ts';
import { RunLogger } from '../../train/run-logger.ts';
import { runPaths, type RunSpec } from '../../train/run-spec.ts';
import { trainRun } from '../../train/train-run.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { torchSkip } from './torch-available.ts';

const skip = torchSkip();
/** A checkpoint of one engine resumed on the other; measured: losses within 2.3e-7. */
const CROSS_TOL = 3e-6;
const quiet = (spec: RunSpec) => new RunLogger(runPaths(spec.runDir).logs, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);

async function run(engineName: string, spec: RunSpec, o: { resume?: boolean; stepLimit?: number } = {}) {
  const engine = await createEngine(engineName, { config: spec.modelConfig, seed: spec.job.seed });
  assert.equal(engine.info.engine, engineName === 'torch' ? 'torch' : 'tfjs');
  try {
    return await trainRun(spec, { engine, sync: new SingleProcessSync(), resume: o.resume ?? false, stepLimit: o.stepLimit, logger: quiet(spec) });
  } finally {
    engine.dispose();
  }
}

// Dropout off: the engines draw different dropout masks from the same seed stream.
const N = 4;
const job = (dir: string) => testJob(dir, {
  model: {
    config: {
      hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64,
      hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
    },
  },
}, { max_steps: 2 * N, eval_interval: 0, checkpoint_interval: 0 });

for (const [a, b] of [['wasm', 'torch'], ['torch', 'wasm']] as const) {
  test(`checkpoints cross engines: ${N} steps on ${a}, resume ${N} on ${b} = ${2 * N} straight on ${b}`, { skip }, async () => {
    const straight = await run(b, await prepareRun(job(join(scratchDir(`straight-${b}`), 'x')), 1, () => {}));
    assert.equal(straight.losses.length, 2 * N);
    const spec = await prepareRun(job(join(scratchDir(`cross-${a}-${b}`), 'x')), 1, () => {});
    const first = await run(a, spec, { stepLimit: N });
    assert.equal(first.state.finished, false);
    const second = await run(b, spec, { resume: true });
    assert.equal(second.losses.length, N);
    let worst = 0;
    for (let i = 0; i < N; i++) {
      const want = straight.losses[N + i]!;
      const got = second.losses[i]!;
      worst = Math.max(worst, Math.abs(got - want) / Math.abs(want));
      assert.ok(Math.abs(got - want) <= CROSS_TOL * Math.abs(want), `step ${N + i + 1}: resumed ${got} vs straight ${want}`);
    }
    // The first half agrees across engines too (same init, same data).
    for (let i = 0; i < N; i++) {
      worst = Math.max(worst, Math.abs(first.losses[i]! - straight.losses[i]!) / Math.abs(straight.losses[i]!));
      assert.ok(Math.abs(first.losses[i]! - straight.losses[i]!) <= CROSS_TOL * Math.abs(straight.losses[i]!), `step ${i + 1}: ${first.losses[i]} on ${a} vs ${straight.losses[i]} on ${b}`);
    }
    console.log(`# ${a} → ${b}: worst loss relative error ${worst.toExponential(2)}`);
  });
}

test('torch resume with dropout on replays loss for loss (engine RNG state in last.pth)', { skip }, async () => {
  const stage = { max_steps: 6, eval_interval: 0, checkpoint_interval: 0 };
  const straight = await run('torch', await prepareRun(testJob(join(scratchDir('t-straight'), 'x'), {}, stage), 1, () => {}));
  const spec = await prepareRun(testJob(join(scratchDir('t-resumed'), 'x'), {}, stage), 1, () => {});
  const first = await run('torch', spec, { stepLimit: 3 });
  const second = await run('torch', spec, { resume: true });
  const resumed = [...first.losses, ...second.losses];
  assert.equal(resumed.length, 6);
  for (let i = 0; i < 6; i++) {
    assert.ok(Math.abs(resumed[i]! - straight.losses[i]!) <= 1e-6 * Math.abs(straight.losses[i]!), `step ${i + 1}: ${resumed[i]} vs ${straight.losses[i]}`);
  }
});
