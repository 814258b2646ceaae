import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fillMask } from '../../cli/fill-mask-command.ts';
import { createEngine } from '../../engine/create-engine.ts';
import { familyOfConfig } from '../../model/families/registry.ts';
import { loadTorchFile, stateDictOf } from '../../model/formats/torch-file.ts';
import { loadHfModel } from '../../model/hf-folder.ts';
import { readSafetensors } from '../../model/formats/safetensors.ts';
import { SingleProcessSync, type GradientSync } from '../../train/gradient-sync.ts';
import { prepareRun } from '../../train/prepare-run.ts';
import { RunLogger } from '../../train/run-logger.ts';
import { runPaths, type RunSpec } from '../../train/run-spec.ts';
import { trainRun } from '../../train/train-run.ts';
import { familyBatch } from '../helpers/family-parity.ts';
import { MemoryGroup } from '../helpers/memory-sync.ts';
import { batchToJson } from '../helpers/parity.ts';
import { testJob } from '../helpers/test-job.ts';
import { relativeError, runReference, scratchDir } from '../helpers/torch-reference.ts';
import { torchSkip } from '../engine/torch-available.ts';

/**
 * The trainer for every family (tiny configs, torch engine): 1 rank ≡ 2 ranks
 * step for step, resume ≡ straight, and what a run leaves loads where users
 * take it: best.pth into the family's PyTorch reference with its own strict
 * load_state_dict (its own state_dict keys), hf/ by config.json's model_type,
 * fill-mask with the family's mask token.
 */
const BPE = fileURLToPath(new URL('../../examples/tokenizers/fairy-tales-bpe', import.meta.url));
const WORDPIECE = fileURLToPath(new URL('../fixtures/bert-base-uncased', import.meta.url));
const skip = torchSkip();
// Measured (torch, 6 steps): 1 vs 2 ranks loss ≤ 1.1e-7 relative; final weights ≤ 3.5e-8 relative.
const LOSS_TOL = 1e-6;
const WEIGHT_TOL = 5e-7;

// Dropout off: each rank draws its own dropout masks, so only a dropout-free run can equal one rank's (as test/service/equivalence).
const NO_DROPOUT = { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
const FAMILIES: Record<string, { tokenizer: string; config: Record<string, unknown>; mask: string }> = {
  bert: { tokenizer: WORDPIECE, mask: '[MASK]', config: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64, ...NO_DROPOUT } },
  distilbert: { tokenizer: WORDPIECE, mask: '[MASK]', config: { dim: 32, n_layers: 2, n_heads: 2, hidden_dim: 64, max_position_embeddings: 64, dropout: 0, attention_dropout: 0 } },
  roberta: { tokenizer: BPE, mask: '<mask>', config: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 66, ...NO_DROPOUT } },
  modernbert: {
    tokenizer: BPE, mask: '<mask>',
    config: { hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 48, global_attn_every_n_layers: 2, local_attention: 16, max_position_embeddings: 64 },
  },
};

const quiet = (spec: RunSpec) => new RunLogger(runPaths(spec.runDir).logs, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);

async function prepare(family: string, dir: string, worldSize: number) {
  const f = FAMILIES[family]!;
  // 6 steps, seq 32 (above ModernBERT's window of 16), whole-word masking (WordPiece ## or BPE Ġ).
  const job = testJob(dir, { engine: 'torch', tokenizer: f.tokenizer, model: { config: { model_type: family, ...f.config } } }, { max_steps: 6, eval_interval: 3, whole_word_mask: true });
  return prepareRun(job, worldSize, () => {});
}

async function train(spec: RunSpec, sync: GradientSync, o: { resume?: boolean; stepLimit?: number } = {}) {
  const engine = await createEngine('torch', { config: spec.modelConfig, seed: spec.job.seed });
  try {
    return await trainRun(spec, { engine, sync, resume: o.resume ?? false, stepLimit: o.stepLimit, logger: quiet(spec) });
  } finally {
    engine.dispose();
  }
}

function closeLosses(a: number[], b: number[], tol: number, what: string): number {
  assert.equal(a.length, b.length, `${what}: step counts`);
  let worst = 0;
  a.forEach((x, i) => {
    const rel = Math.abs(x - b[i]!) / Math.abs(x);
    assert.ok(rel <= tol, `${what}: step ${i + 1}: ${x} vs ${b[i]}`);
    worst = Math.max(worst, rel);
  });
  return worst;
}

for (const family of Object.keys(FAMILIES)) {
  test(`${family}: 1 rank ≡ 2 ranks, resume ≡ straight, best.pth and hf/ load in PyTorch, fill-mask`, { skip }, async () => {
    const one = await prepare(family, join(scratchDir(`fam-${family}-1`), 'x'), 1);
    assert.equal(one.modelConfig.model_type, family);
    const straight = await train(one, new SingleProcessSync());

    const two = await prepare(family, join(scratchDir(`fam-${family}-2`), 'x'), 2);
    const group = new MemoryGroup(2);
    const [r0] = await Promise.all(group.syncs().map((sync) => train(two, sync)));
    const lossN = closeLosses(straight.losses, r0!.losses, LOSS_TOL, `${family} 1 vs 2 ranks`);
    const w1 = stateDictOf(loadTorchFile(runPaths(one.runDir).last), 'one');
    const w2 = stateDictOf(loadTorchFile(runPaths(two.runDir).last), 'two');
    const weightErr = relativeError(flat(w2), flat(w1));
    assert.ok(weightErr < WEIGHT_TOL, `${family}: final weights 1 vs 2 ranks differ by ${weightErr}`);

    const resumed = await prepare(family, join(scratchDir(`fam-${family}-r`), 'x'), 1);
    const first = await train(resumed, new SingleProcessSync(), { stepLimit: 3 });
    const second = await train(resumed, new SingleProcessSync(), { resume: true });
    closeLosses(straight.losses, [...first.losses, ...second.losses], 1e-6, `${family} resume`);
    console.log(`# ${family}: 1 vs 2 ranks loss ${lossN.toExponential(2)}, weights ${weightErr.toExponential(2)}; resume exact to 1e-6`);

    // best.pth: torch.load + <Family>ForMaskedLM.load_state_dict(strict) in the reference, same loss as ours.
    const p = runPaths(one.runDir);
    const check = scratchDir(`fam-${family}-pth`);
    const hfConfig = familyOfConfig(one.modelConfig).hfConfig(one.modelConfig as typeof one.modelConfig & Record<string, unknown>);
    writeFileSync(join(check, 'config.json'), JSON.stringify(hfConfig));
    const batch = familyBatch(one.modelConfig, 2, 16, 1);
    writeFileSync(join(check, 'batch.json'), JSON.stringify(batchToJson(batch)));
    copyFileSync(p.best, join(check, 'model.pth'));
    runReference('load_pth', check, `${family}_ref.py`);
    const loaded = JSON.parse(readFileSync(join(check, 'load_pth.json'), 'utf8'));
    if (family !== 'bert') {
      // (bert_ref.py predates the keys command; its strict load_state_dict above is the same check.)
      runReference('keys', check, `${family}_ref.py`);
      const keys = JSON.parse(readFileSync(join(check, 'keys.json'), 'utf8')).state_dict.map((k: { name: string }) => k.name);
      assert.deepEqual([...loaded.keys].sort(), [...keys].sort(), 'best.pth holds exactly the reference state_dict keys');
    }
    const best = await createEngine('torch', { config: one.modelConfig, weights: stateDictOf(loadTorchFile(p.best), 'best'), seed: 0 });
    const ours = await best.forwardBackward(batch, false);
    best.dispose();
    assert.ok(Math.abs(ours.lossSum - loaded.loss_sum) <= 1e-5 * Math.abs(loaded.loss_sum), `${family}: best.pth loss ${loaded.loss_sum} in torch, ${ours.lossSum} here`);

    // hf/: config.json names the family (and its own field names); the folder loads back by itself.
    const hfCfg = JSON.parse(readFileSync(join(p.hf, 'config.json'), 'utf8'));
    assert.equal(hfCfg.model_type, family);
    assert.deepEqual(hfCfg.architectures, [familyOfConfig(one.modelConfig).mlmArchitecture]);
    const hf = loadHfModel(p.hf);
    assert.equal(hf.config.model_type, family);
    // The reference reads hf/ as from_pretrained would (config.json in the family's names, model.safetensors
    // without tied aliases) and computes the loss best.pth gave.
    const fromHf = scratchDir(`fam-${family}-hf`);
    copyFileSync(join(p.hf, 'config.json'), join(fromHf, 'config.json'));
    copyFileSync(join(p.hf, 'model.safetensors'), join(fromHf, 'weights.safetensors'));
    writeFileSync(join(fromHf, 'batch.json'), JSON.stringify(batchToJson(batch)));
    runReference('forward', fromHf, `${family}_ref.py`);
    const hfLoss = readSafetensors(join(fromHf, 'ref.safetensors')).tensors.get('loss_sum')!.data[0]!;
    assert.ok(Math.abs(hfLoss - loaded.loss_sum) <= 1e-6 * Math.abs(loaded.loss_sum), `${family}: hf/ loss ${hfLoss}, best.pth ${loaded.loss_sum}`);

    const out = await fillMask(one.runDir, `the king and the ${FAMILIES[family]!.mask} lived happily.`, { topK: 3, checkpoint: 'best', engine: 'torch' });
    assert.equal(out.length, 3);
    assert.ok(out.every((o) => o.score > 0 && o.score <= 1 && o.sequence.length > 0));
  });
}

function flat(sd: Map<string, { data: Float32Array }>): Float32Array {
  const parts = [...sd.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, t]) => t.data);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
