import type { BertConfig } from '../model/bert-config.ts';
import { familyOfConfig } from '../model/families/registry.ts';
import type { ModelHead } from '../model/model-head.ts';
import type { ClassificationLoss, EvalResult, MlmBatch, SequenceBatch } from './engine.ts';

/**
 * What every engine does around its model, the same way: check a batch,
 * find its masked positions, turn top-k and argmax outputs into EvalResult.
 */
export function checkBatch(b: MlmBatch, c: BertConfig): void {
  const n = b.batchSize * b.seqLen;
  if (b.inputIds.length !== n || b.attentionMask.length !== n || b.labels.length !== n) {
    throw new Error(`batch of ${b.batchSize}×${b.seqLen} has arrays of length ${b.inputIds.length}/${b.attentionMask.length}/${b.labels.length}`);
  }
  const maxLen = familyOfConfig(c).maxSeqLen(c);
  if (b.seqLen > maxLen) {
    const roberta = maxLen < c.max_position_embeddings ? ` less pad_token_id + 1 (positions start after it)` : '';
    throw new Error(`sequence length ${b.seqLen} exceeds max_position_embeddings ${c.max_position_embeddings}${roberta}`);
  }
}

/** A classifier's batch: one label per sequence, each a label id; weights one per label. */
export function checkClassificationBatch(b: SequenceBatch & { labels?: Int32Array }, c: BertConfig, head: ModelHead, loss?: ClassificationLoss): void {
  if (head.kind !== 'classification') throw new Error('this engine holds a masked-LM model, not a sequence classifier');
  const n = b.batchSize * b.seqLen;
  if (b.inputIds.length !== n || b.attentionMask.length !== n) {
    throw new Error(`batch of ${b.batchSize}×${b.seqLen} has arrays of length ${b.inputIds.length}/${b.attentionMask.length}`);
  }
  if (b.seqLen > c.max_position_embeddings) {
    throw new Error(`sequence length ${b.seqLen} exceeds max_position_embeddings ${c.max_position_embeddings}`);
  }
  if (b.labels && b.labels.length !== b.batchSize) throw new Error(`${b.labels.length} labels for a batch of ${b.batchSize} sequences`);
  const bad = b.labels?.find((l) => l < 0 || l >= head.numLabels);
  if (bad !== undefined) throw new Error(`label ${bad} outside 0..${head.numLabels - 1}`);
  const w = loss?.classWeights;
  if (w && w.length !== head.numLabels) throw new Error(`${w.length} class weights for ${head.numLabels} labels`);
}

/** Σ weight[label] over the batch (its size when unweighted): what torch's reduction="mean" divides by. */
export function classWeightSum(labels: Int32Array, weights: Float32Array | null): number {
  if (!weights) return labels.length;
  let s = 0;
  for (const l of labels) s += weights[l]!;
  return s;
}

/** Flat positions (row-major) with a label, and those labels. */
export function maskedPositions(b: MlmBatch): { positions: Int32Array; labels: Int32Array } {
  let count = 0;
  for (let i = 0; i < b.labels.length; i++) if (b.labels[i] !== -100) count++;
  const positions = new Int32Array(count);
  const labels = new Int32Array(count);
  for (let i = 0, j = 0; i < b.labels.length; i++) {
    if (b.labels[i] !== -100) {
      positions[j] = i;
      labels[j++] = b.labels[i]!;
    }
  }
  return { positions, labels };
}

/**
 * EvalResult from the model's outputs: `top` holds k ids per masked position
 * (best first), `pred` the argmax at every position of the batch.
 */
export function evalResultFrom(
  batch: MlmBatch,
  masked: { positions: Int32Array; labels: Int32Array },
  lossSum: number,
  top: ArrayLike<number>,
  k: number,
  pred: ArrayLike<number>,
): EvalResult {
  const { positions, labels } = masked;
  const out: EvalResult = {
    lossSum,
    maskedTokens: positions.length,
    labels,
    top1: new Int32Array(positions.length),
    top10Hit: new Uint8Array(positions.length),
    allTokensCorrect: 0,
    allTokensCount: 0,
  };
  for (let i = 0; i < positions.length; i++) {
    out.top1[i] = top[i * k]!;
    for (let j = 0; j < k; j++) if (top[i * k + j] === labels[i]) out.top10Hit[i] = 1;
  }
  // All-tokens accuracy is against the uncorrupted input: the label where masked.
  const original = Int32Array.from(batch.inputIds);
  positions.forEach((p, i) => (original[p] = labels[i]!));
  for (let i = 0; i < pred.length; i++) {
    if (!batch.attentionMask[i]) continue;
    out.allTokensCount++;
    if (pred[i] === original[i]) out.allTokensCorrect++;
  }
  return out;
}
