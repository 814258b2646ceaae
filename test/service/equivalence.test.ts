import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { loadTorchFile, stateDictOf } from '../../model/formats/torch-file.ts';
import { runPaths } from '../../train/run-spec.ts';
import { stepLosses, testJob } from '../helpers/test-job.ts';
import { relativeError, scratchDir } from '../helpers/torch-reference.ts';
import { startCluster, type Cluster } from './harness.ts';
import { torchSkip } from '../engine/torch-available.ts';

// DDP's promise, checked through the whole service: the same job on 1 worker
// (accumulation 16) and on 2 workers (accumulation 8, all-reduced over shm)
// trains the same model, step for step.
const root = new URL('../../', import.meta.url).pathname;
// Measured (20 steps): loss 1.9e-7 (wasm) / 1.7e-7 (torch), weights 2.4e-7 / 8.2e-7, key bias 1.9e-8.
const LOSS_TOL = 2e-6;
const WEIGHT_TOL = 8e-6;
// The key bias: float noise turned into Adam steps, against the model's norm (see below).
const KEY_BIAS_TOL = 2e-7;
let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ workers: 2 });
});
after(async () => {
  await cluster.stop();
});

function job(dir: string, name: string, engine: string) {
  return testJob(
    dir,
    {
      name,
      engine,
      corpus: { train: join(root, 'examples/corpus/grimm/train.txt'), valid: join(root, 'examples/corpus/grimm/valid.txt'), cache_dir: join(dir, 'cache') },
      model: {
        config: {
          hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64,
          hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
        },
      },
    },
    { seq_len: 32, micro_batch: 4, global_batch: 64, max_steps: 20, warmup_steps: 2, learning_rate: 2e-3, eval_interval: 0, max_eval_samples: 8 },
  );
}

for (const engine of ['wasm', 'torch'] as const) {
test(`${engine}: 1 worker (accumulation 16) and 2 workers (accumulation 8): same loss at every step, same final weights`, { skip: engine === 'torch' && torchSkip() }, async () => {
  const dir = scratchDir(`equiv-${engine}`);
  const one = await cluster.client.result(await cluster.client.submit(job(dir, 'one', engine), { worldSize: 1 }));
  const two = await cluster.client.result(await cluster.client.submit(job(dir, 'two', engine), { worldSize: 2 }));
  const [lossOne, lossTwo] = [stepLosses(one.run_dir), stepLosses(two.run_dir)];
  assert.equal(one.world_size, 1);
  assert.equal(two.world_size, 2);
  assert.equal(lossOne.length, 20);
  assert.equal(lossTwo.length, 20);
  let worstLoss = 0;
  for (let i = 0; i < 20; i++) {
    const rel = Math.abs(lossOne[i]! - lossTwo[i]!) / Math.abs(lossOne[i]!);
    worstLoss = Math.max(worstLoss, rel);
    assert.ok(rel < LOSS_TOL, `step ${i + 1}: ${lossOne[i]} vs ${lossTwo[i]}`);
  }
  const w1 = stateDictOf(loadTorchFile(runPaths(one.run_dir).last), 'one');
  const w2 = stateDictOf(loadTorchFile(runPaths(two.run_dir).last), 'two');
  let worstWeight = 0;
  let worstKeyBias = 0;
  let total = 0;
  for (const t of w1.values()) for (const x of t.data) total += x * x;
  total = Math.sqrt(total);
  for (const [name, t] of w1) {
    if (name.endsWith('attention.self.key.bias')) {
      // Its gradient is zero in exact arithmetic (softmax ignores a per-query constant): Adam turns the
      // float noise into full-size steps, so it is compared against the whole model's norm instead.
      let d = 0;
      t.data.forEach((x, i) => (d += (x - w2.get(name)!.data[i]!) ** 2));
      worstKeyBias = Math.max(worstKeyBias, Math.sqrt(d) / total);
      assert.ok(Math.sqrt(d) / total < KEY_BIAS_TOL, `${name}: off by ${Math.sqrt(d) / total} of the model's norm`);
      continue;
    }
    const err = relativeError(w2.get(name)!.data, t.data);
    worstWeight = Math.max(worstWeight, err);
    assert.ok(err < WEIGHT_TOL, `${name}: relative error ${err}`);
  }
  console.log(`# equivalence (${engine}): worst loss relative error ${worstLoss.toExponential(2)}, worst weight ${worstWeight.toExponential(2)}, key bias ${worstKeyBias.toExponential(2)} of the norm`);
  assert.ok(lossOne[19]! < lossOne[0]!, 'it trained');
});
}
