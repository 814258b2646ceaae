import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTorchFile, stateDictOf } from '../../model/formats/torch-file.ts';
import { runPaths } from '../../train/run-spec.ts';
import { stepLosses, testJob } from '../helpers/test-job.ts';
import { relativeError, scratchDir } from '../helpers/torch-reference.ts';
import { startCluster, type Cluster } from './harness.ts';
import { writePassages } from '../../examples/fairy-tale-passages.ts';
import { torchSkip } from '../engine/torch-available.ts';

// DDP's promise, checked through the whole service: the same job on 1 worker
// (accumulation 16, then 8) and on 2 workers (accumulation 8, then 4,
// all-reduced over shm) trains the same model, step for step: 20 MLM steps,
// then 10 steps of a classification stage on the MLM stage's encoder (class
// weights and label smoothing, so the mean divides by a weight sum). With the
// torch engine the 2-worker run sums its gradient in the engine, in buckets
// overlapped with backward (train/engine-sync.ts), and must still match.
const root = new URL('../../', import.meta.url).pathname;
// Measured: MLM loss 1.9e-7 (wasm) / 1.7e-7 (torch); classification loss 1.5e-7 / 1.5e-7;
// final (classifier) weights 3.4e-7 / 8.6e-7; key bias 5.3e-8 / 3.2e-8 of the model's norm.
const LOSS_TOL = 2e-6;
const WEIGHT_TOL = 8e-6;
// The key bias: float noise turned into Adam steps, against the model's norm (see below).
const KEY_BIAS_TOL = 5e-7;
let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ workers: 2 });
});
after(async () => {
  await cluster.stop();
});

function job(dir: string, name: string, engine: string) {
  const passages = writePassages(join(dir, 'passages'), { maxPerSplit: 64 });
  const mlm = { seq_len: 32, micro_batch: 4, global_batch: 64, max_steps: 20, warmup_steps: 2, learning_rate: 2e-3, eval_interval: 0, max_eval_samples: 8 };
  const classification = {
    ...mlm, task: 'classification', global_batch: 32, max_steps: 10, eval_interval: 5, max_eval_samples: 32,
    labels: { train: passages.train, valid: passages.valid, names: ['grimm', 'japanese-fairy-tales'] },
    class_weights: [1, 1.5], label_smoothing: 0.1, early_stopping: { metric: 'accuracy' },
  };
  return testJob(
    dir,
    {
      name,
      engine,
      stages: [mlm, classification],
      corpus: { train: join(root, 'examples/corpus/grimm/train.txt'), valid: join(root, 'examples/corpus/grimm/valid.txt'), cache_dir: join(dir, 'cache') },
      model: {
        config: {
          hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64,
          hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
        },
      },
    },
  );
}

for (const engine of ['wasm', 'torch'] as const) {
test(`${engine}: 1 worker (accumulation 16, 8) and 2 workers (accumulation 8, 4), MLM then classification: same loss at every step, same final weights`, { skip: engine === 'torch' && torchSkip() }, async () => {
  const dir = scratchDir(`equiv-${engine}`);
  const one = await cluster.client.result(await cluster.client.submit(job(dir, 'one', engine), { worldSize: 1 }));
  const two = await cluster.client.result(await cluster.client.submit(job(dir, 'two', engine), { worldSize: 2 }));
  const [lossOne, lossTwo] = [stepLosses(one.run_dir), stepLosses(two.run_dir)];
  const paths = readFileSync(join(two.run_dir, 'logs/train.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { event: string; gradient_sync?: string }).filter((r) => r.event === 'plan').map((r) => r.gradient_sync);
  assert.deepEqual(paths, engine === 'torch' ? ['engine', 'engine'] : ['host', 'host'], 'where the 2-worker run summed its gradient');
  assert.equal(one.world_size, 1);
  assert.equal(two.world_size, 2);
  assert.equal(lossOne.length, 30);
  assert.equal(lossTwo.length, 30);
  const worstLoss = [0, 0];
  for (let i = 0; i < 30; i++) {
    const rel = Math.abs(lossOne[i]! - lossTwo[i]!) / Math.abs(lossOne[i]!);
    worstLoss[i < 20 ? 0 : 1] = Math.max(worstLoss[i < 20 ? 0 : 1]!, rel);
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
  console.log(
    `# equivalence (${engine}): worst loss relative error MLM ${worstLoss[0]!.toExponential(2)}, classification ${worstLoss[1]!.toExponential(2)}; ` +
      `worst weight ${worstWeight.toExponential(2)}, key bias ${worstKeyBias.toExponential(2)} of the norm`,
  );
  assert.ok(w1.has('classifier.weight'), 'the final model is the classifier');
  assert.ok(lossOne[19]! < lossOne[0]!, 'it trained');
  assert.equal(one.last_eval?.task, 'classification');
  assert.equal(one.last_eval?.accuracy, two.last_eval?.accuracy);
});
}
