import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../model/formats/safetensors.ts';
import type { Engine, MlmBatch } from '../../engine/engine.ts';
import type { BertConfig } from '../../model/bert-config.ts';
import { bertParamSpecs, type ParamSpec } from '../../model/parameters.ts';
import type { StateDict } from '../../model/state-dict.ts';
import { randomBatch } from './tiny-model.ts';
import { relativeError, runReference, scratchDir } from './torch-reference.ts';

export interface ParityTolerance {
  logits: number;
  grads: number;
}

/** tfjs (wasm and cpu) against PyTorch, measured: logits 2.6e-7, worst gradient 8.1e-7. */
export const TFJS_PARITY: ParityTolerance = { logits: 3e-6, grads: 1e-5 };
/**
 * libtorch against PyTorch, measured: logits 0 (the same ATen kernels), worst
 * gradient 4.3e-7; 1e-6 on logits is the float32 floor should kernels differ.
 */
export const TORCH_PARITY: ParityTolerance = { logits: 1e-6, grads: 5e-6 };

/**
 * Runs one batch through `engine` and through the PyTorch reference with the
 * same weights: logits, summed loss and every parameter's gradient must agree.
 */
export async function checkParityWithTorch(engine: Engine, config: BertConfig, tol: ParityTolerance, label: string) {
  const dir = scratchDir('parity');
  const batch = randomBatch(config, 3, 24, 5);
  writeSafetensors(join(dir, 'weights.safetensors'), engine.stateDict());
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'batch.json'), JSON.stringify(batchToJson(batch)));
  runReference('forward', dir);
  const ref = readSafetensors(join(dir, 'ref.safetensors')).tensors;

  const logitErr = relativeError(await engine.logits(batch), ref.get('logits')!.data);
  assert.ok(logitErr < tol.logits, `${label}: logits relative error ${logitErr}`);

  await checkLossAndGradients(engine, config, batch, ref, tol, label, logitErr);
}

/**
 * Loss and every gradient of one forward+backward against the reference's (`loss_sum`, the
 * gradients by parameter name), after the caller compared the logits (`logitErr`, printed).
 */
export async function checkLossAndGradients(
  engine: Engine, config: BertConfig, batch: MlmBatch, ref: StateDict, tol: ParityTolerance, label: string, logitErr: number,
): Promise<{ logits: number; grads: number }> {
  engine.zeroGrad();
  const fb = await engine.forwardBackward(batch, false);
  const refLoss = ref.get('loss_sum')!.data[0]!;
  const lossErr = Math.abs(fb.lossSum - refLoss) / Math.abs(refLoss);
  assert.ok(lossErr < tol.logits, `${label}: loss ${fb.lossSum} vs torch ${refLoss}`);
  assert.equal(fb.maskedTokens, batch.labels.filter((l) => l !== -100).length);

  const worst = checkGradients(engine.gradients(), ref, bertParamSpecs(config), tol.grads, label);
  console.log(`# ${label}: logits ${logitErr.toExponential(2)}, loss ${lossErr.toExponential(2)}, worst gradient ${worst.toExponential(2)}`);
  return { logits: logitErr, grads: worst };
}

/**
 * Every parameter's gradient in `grads` (flat, in `specs` order) against the
 * reference's `grad.<name>`; returns the worst relative error. Gradients that
 * are zero in exact arithmetic (the attention key bias: softmax ignores a
 * per-query constant) are compared against the global gradient norm instead.
 */
export function checkGradients(grads: Float32Array, ref: StateDict, specs: ParamSpec[], tol: number, label: string): number {
  let total = 0;
  for (const s of specs) for (const g of ref.get(`grad.${s.name}`)!.data) total += g * g;
  total = Math.sqrt(total);
  let worst = 0;
  for (const s of specs) {
    const ours = grads.subarray(s.offset, s.offset + s.size);
    const theirs = ref.get(`grad.${s.name}`)!.data;
    if (s.name.endsWith('attention.self.key.bias') || s.name.endsWith('attention.k_lin.bias')) {
      const err = relativeError(ours, theirs) * Math.sqrt(theirs.reduce((a, x) => a + x * x, 0)) / total;
      assert.ok(err < tol, `${label}: key bias gradient (zero in exact arithmetic) off by ${err} of the global norm`);
      continue;
    }
    const err = relativeError(ours, theirs);
    assert.ok(err < tol, `${label}: gradient of ${s.name}: relative error ${err}`);
    worst = Math.max(worst, err);
  }
  return worst;
}

export function batchToJson(b: MlmBatch) {
  return {
    batchSize: b.batchSize,
    seqLen: b.seqLen,
    inputIds: Array.from(b.inputIds),
    tokenTypeIds: Array.from(b.tokenTypeIds ?? new Int32Array(b.inputIds.length)),
    attentionMask: Array.from(b.attentionMask),
    labels: Array.from(b.labels),
  };
}
