import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassificationBatch, ClassificationLoss, Engine } from '../../engine/engine.ts';
import type { BertConfig } from '../../model/bert-config.ts';
import { readSafetensors, writeSafetensors } from '../../model/formats/safetensors.ts';
import { bertParamSpecs } from '../../model/parameters.ts';
import { batchToJson, checkGradients, type ParityTolerance } from './parity.ts';
import { randomBatch } from './tiny-model.ts';
import { relativeError, runReference, scratchDir } from './torch-reference.ts';

/** A padded batch with token types and one label per row (the last row half padding). */
export function classificationBatchFor(config: BertConfig, numLabels: number, seed: number): ClassificationBatch {
  const b = randomBatch(config, 4, 20, seed);
  return { ...b, labels: Int32Array.from({ length: 4 }, (_, i) => (i * 7 + seed) % numLabels) };
}

/** The losses checked: class weights with label smoothing (every term of the formula), and the plain cross-entropy. */
export const LOSSES: Array<[string, ClassificationLoss]> = [
  ['weighted, smoothed', { classWeights: Float32Array.from([0.5, 2, 1.25]), labelSmoothing: 0.1 }],
  ['plain', { classWeights: null, labelSmoothing: 0 }],
];

/**
 * A classifier engine against test/reference/bert_cls_ref.py (PyTorch's
 * BertForSequenceClassification shape, F.cross_entropy with weights and
 * smoothing) on the same weights and batch: logits, summed loss, its weight
 * sum, and every parameter's gradient of the summed loss.
 */
export async function checkClassifierParity(engine: Engine, config: BertConfig, tol: ParityTolerance, label: string): Promise<void> {
  assert.equal(engine.head.kind, 'classification');
  const numLabels = (engine.head as { numLabels: number }).numLabels;
  const batch = classificationBatchFor(config, numLabels, 3);
  for (const [name, loss] of LOSSES) {
    const dir = scratchDir('cls-parity');
    writeSafetensors(join(dir, 'weights.safetensors'), engine.stateDict());
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, id2label: Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [String(i), `l${i}`])) }));
    const classWeights = loss.classWeights ? Array.from(loss.classWeights) : undefined;
    writeFileSync(join(dir, 'batch.json'), JSON.stringify({ ...batchToJson(batch), labels: Array.from(batch.labels), classWeights, labelSmoothing: loss.labelSmoothing }));
    runReference('forward', dir, 'bert_cls_ref.py');
    const ref = readSafetensors(join(dir, 'ref.safetensors')).tensors;

    const c = await engine.classify(batch, loss);
    const logitErr = relativeError(c.logits, ref.get('logits')!.data);
    assert.ok(logitErr < tol.logits, `${label} (${name}): logits relative error ${logitErr}`);
    const refLoss = ref.get('loss_sum')!.data[0]!;
    assert.ok(Math.abs(c.lossSum - refLoss) / refLoss < tol.logits, `${label} (${name}): evaluation loss ${c.lossSum} vs torch ${refLoss}`);

    engine.zeroGrad();
    const fb = await engine.forwardBackwardClassify(batch, loss, false);
    const lossErr = Math.abs(fb.lossSum - refLoss) / Math.abs(refLoss);
    assert.ok(lossErr < tol.logits, `${label} (${name}): loss ${fb.lossSum} vs torch ${refLoss}`);
    assert.ok(Math.abs(fb.weightSum - ref.get('weight_sum')!.data[0]!) < 1e-6, `${label} (${name}): weight sum ${fb.weightSum}`);
    const worst = checkGradients(engine.gradients(), ref, bertParamSpecs(config, engine.head), tol.grads, `${label} (${name})`);
    console.log(`# ${label} classifier (${name}): logits ${logitErr.toExponential(2)}, loss ${lossErr.toExponential(2)}, worst gradient ${worst.toExponential(2)}`);
  }
}
