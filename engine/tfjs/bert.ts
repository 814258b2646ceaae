import * as tf from '@tensorflow/tfjs';
import type { BertConfig } from '../../model/bert-config.ts';
import { gatherRows, gelu, layerNorm, linear, matMul2d } from './ops.ts';

/**
 * BertForMaskedLM (and the BERT-shaped families: DistilBERT, RoBERTa, by their
 * EncoderLayout) as plain functions over a name → tensor map (Hugging Face names). No parallelism, no optimizer, no data: the engine wraps it.
 */
export interface BertWeights {
  /** Parameter by its Hugging Face name. */
  get(name: string): tf.Tensor;
  /** Cached transpose of a [out, in] weight, if the engine keeps one. */
  transposed(name: string): tf.Tensor2D | undefined;
}

export interface BertInputs {
  batchSize: number;
  seqLen: number;
  inputIds: tf.Tensor1D; // [B*S] int32
  tokenTypeIds: tf.Tensor1D; // [B*S] int32
  /** [B*S] int32, for families that count positions from the ids (RoBERTa). */
  positionIds?: tf.Tensor1D;
  /** [B,1,1,S]: 0 for real tokens, a large negative number for padding. */
  additiveMask: tf.Tensor4D;
}

/** Dropout seeds come from the caller's RNG so that a run replays exactly. */
export type DropoutSeed = () => number;

const MASK_NEG = -1e9;

export function additiveMask(attentionMask: Int32Array, batchSize: number, seqLen: number): tf.Tensor4D {
  const m = new Float32Array(attentionMask.length);
  for (let i = 0; i < m.length; i++) m[i] = attentionMask[i] ? 0 : MASK_NEG;
  return tf.tensor4d(m, [batchSize, 1, 1, seqLen]);
}

export function dense(w: BertWeights, prefix: string, x: tf.Tensor2D): tf.Tensor2D {
  return linear(
    x,
    w.get(`${prefix}.weight`) as tf.Tensor2D,
    w.get(`${prefix}.bias`) as tf.Tensor1D,
    w.transposed(`${prefix}.weight`),
  );
}

function norm(w: BertWeights, prefix: string, x: tf.Tensor2D, eps: number): tf.Tensor2D {
  return layerNorm(x, w.get(`${prefix}.weight`) as tf.Tensor1D, w.get(`${prefix}.bias`) as tf.Tensor1D, eps);
}

export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: DropoutSeed | null): T {
  return seed && rate > 0 ? (tf.dropout(x, rate, undefined, seed()) as T) : x;
}

/** Where a BERT-shaped family keeps its tensors, and what it does differently (tfjs-layouts.ts). */
export interface EncoderLayout {
  word: string;
  position: string;
  /** null: the family has no token types (DistilBERT). */
  tokenType: string | null;
  embeddingNorm: string;
  layer(i: number): { query: string; key: string; value: string; attnOut: string; attnNorm: string; inter: string; out: string; outNorm: string };
  /** RoBERTa: positions counted from the ids (real tokens pad+1, pad+2, ...; padding at pad). */
  positionsFromIds: boolean;
  head: { dense: string; norm: string; bias: string };
}

/** RoBERTa's positions: cumulative count of non-pad ids per row, times the non-pad mask, plus pad. */
export function positionIdsFromInputIds(ids: Int32Array, batchSize: number, seqLen: number, pad: number): Int32Array {
  const out = new Int32Array(ids.length);
  for (let r = 0; r < batchSize; r++) {
    let count = 0;
    for (let j = 0; j < seqLen; j++) {
      const i = r * seqLen + j;
      if (ids[i] === pad) out[i] = pad;
      else out[i] = pad + ++count;
    }
  }
  return out;
}

/** Hidden states [B*S, H] of the encoder's last layer. `seed` null = eval (no dropout). */
export function bertEncoder(c: BertConfig, w: BertWeights, inp: BertInputs, seed: DropoutSeed | null, L: EncoderLayout): tf.Tensor2D {
  const { batchSize: B, seqLen: S } = inp;
  const H = c.hidden_size;
  const nh = c.num_attention_heads;
  const d = H / nh;
  const eps = c.layer_norm_eps;
  const pad = c.pad_token_id;

  let emb = gatherRows(w.get(L.word) as tf.Tensor2D, inp.inputIds, pad);
  if (L.tokenType) emb = tf.add(emb, gatherRows(w.get(L.tokenType) as tf.Tensor2D, inp.tokenTypeIds));
  if (L.positionsFromIds) {
    if (!inp.positionIds) throw new Error('positionIds missing for a family that counts positions from the ids');
    emb = tf.add(emb, gatherRows(w.get(L.position) as tf.Tensor2D, inp.positionIds, pad));
  } else {
    const positions = tf.slice(w.get(L.position) as tf.Tensor2D, [0, 0], [S, H]);
    emb = tf.reshape(tf.add(tf.reshape(emb, [B, S, H]), positions), [B * S, H]) as tf.Tensor2D;
  }
  let h = dropout(norm(w, L.embeddingNorm, emb, eps), c.hidden_dropout_prob, seed);

  // Per-(sequence, head) 2-D attention: wasm's batched matMul is ~3× slower than a loop of 2-D
  // products, and unstacking the small Q/K/V (never the S×S scores) keeps the copies cheap.
  const heads = (x: tf.Tensor2D, perm: number[]) =>
    tf.unstack(tf.reshape(tf.transpose(tf.reshape(x, [B, S, nh, d]), perm), perm[3] === 1 ? [B * nh, d, S] : [B * nh, S, d])) as tf.Tensor2D[];
  const maskRows = tf.unstack(tf.reshape(inp.additiveMask, [B, 1, S])) as tf.Tensor2D[];

  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = L.layer(i);
    const q = heads(dense(w, p.query, h), [0, 2, 1, 3]); // each [S, d]
    const kT = heads(dense(w, p.key, h), [0, 2, 3, 1]); // each [d, S]
    const v = heads(dense(w, p.value, h), [0, 2, 1, 3]);
    const ctx = q.map((qi, j) => {
      const scores = tf.add(tf.mul(matMul2d(qi, kT[j]!), 1 / Math.sqrt(d)), maskRows[Math.floor(j / nh)]!);
      const probs = dropout(tf.softmax(scores), c.attention_probs_dropout_prob, seed);
      return matMul2d(probs as tf.Tensor2D, v[j]!);
    });
    const merged = tf.reshape(tf.transpose(tf.reshape(tf.stack(ctx), [B, nh, S, d]), [0, 2, 1, 3]), [B * S, H]) as tf.Tensor2D;
    const attn = dropout(dense(w, p.attnOut, merged), c.hidden_dropout_prob, seed);
    h = norm(w, p.attnNorm, tf.add(attn, h), eps);
    const inter = gelu(dense(w, p.inter, h));
    const out = dropout(dense(w, p.out, inter), c.hidden_dropout_prob, seed);
    h = norm(w, p.outNorm, tf.add(out, h), eps);
  }
  return h;
}

/** The MLM head on selected hidden rows [K, H] → logits [K, V]: dense, GELU, norm, decoder tied to the word embeddings. */
export function mlmHead(c: BertConfig, w: BertWeights, hidden: tf.Tensor2D, L: EncoderLayout): tf.Tensor2D {
  const t = gelu(dense(w, L.head.dense, hidden));
  const n = norm(w, L.head.norm, t, c.layer_norm_eps);
  return linear(n, w.get(L.word) as tf.Tensor2D, w.get(L.head.bias) as tf.Tensor1D, w.transposed(L.word));
}
