import * as tf from '@tensorflow/tfjs';
import type { BertConfig } from '../../model/bert-config.ts';
import { gatherRows, gelu, layerNorm, linear, matMul2d } from './ops.ts';

/**
 * BertForMaskedLM as plain functions over a name → tensor map (Hugging Face
 * names). No parallelism, no optimizer, no data: the engine wraps it.
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

/** Hidden states [B*S, H] of the encoder's last layer. `seed` null = eval (no dropout). */
export function bertEncoder(c: BertConfig, w: BertWeights, inp: BertInputs, seed: DropoutSeed | null): tf.Tensor2D {
  const { batchSize: B, seqLen: S } = inp;
  const H = c.hidden_size;
  const nh = c.num_attention_heads;
  const d = H / nh;
  const eps = c.layer_norm_eps;

  const words = gatherRows(w.get('bert.embeddings.word_embeddings.weight') as tf.Tensor2D, inp.inputIds);
  const positions = tf.slice(w.get('bert.embeddings.position_embeddings.weight') as tf.Tensor2D, [0, 0], [S, H]);
  const types = gatherRows(w.get('bert.embeddings.token_type_embeddings.weight') as tf.Tensor2D, inp.tokenTypeIds);
  const emb = tf.reshape(tf.add(tf.reshape(tf.add(words, types), [B, S, H]), positions), [B * S, H]) as tf.Tensor2D;
  let h = dropout(norm(w, 'bert.embeddings.LayerNorm', emb, eps), c.hidden_dropout_prob, seed);

  // Per-(sequence, head) 2-D attention: wasm's batched matMul is ~3× slower than a loop of 2-D
  // products, and unstacking the small Q/K/V (never the S×S scores) keeps the copies cheap.
  const heads = (x: tf.Tensor2D, perm: number[]) =>
    tf.unstack(tf.reshape(tf.transpose(tf.reshape(x, [B, S, nh, d]), perm), perm[3] === 1 ? [B * nh, d, S] : [B * nh, S, d])) as tf.Tensor2D[];
  const maskRows = tf.unstack(tf.reshape(inp.additiveMask, [B, 1, S])) as tf.Tensor2D[];

  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `bert.encoder.layer.${i}`;
    const q = heads(dense(w, `${p}.attention.self.query`, h), [0, 2, 1, 3]); // each [S, d]
    const kT = heads(dense(w, `${p}.attention.self.key`, h), [0, 2, 3, 1]); // each [d, S]
    const v = heads(dense(w, `${p}.attention.self.value`, h), [0, 2, 1, 3]);
    const ctx = q.map((qi, j) => {
      const scores = tf.add(tf.mul(matMul2d(qi, kT[j]!), 1 / Math.sqrt(d)), maskRows[Math.floor(j / nh)]!);
      const probs = dropout(tf.softmax(scores), c.attention_probs_dropout_prob, seed);
      return matMul2d(probs as tf.Tensor2D, v[j]!);
    });
    const merged = tf.reshape(tf.transpose(tf.reshape(tf.stack(ctx), [B, nh, S, d]), [0, 2, 1, 3]), [B * S, H]) as tf.Tensor2D;
    const attn = dropout(dense(w, `${p}.attention.output.dense`, merged), c.hidden_dropout_prob, seed);
    h = norm(w, `${p}.attention.output.LayerNorm`, tf.add(attn, h), eps);
    const inter = gelu(dense(w, `${p}.intermediate.dense`, h));
    const out = dropout(dense(w, `${p}.output.dense`, inter), c.hidden_dropout_prob, seed);
    h = norm(w, `${p}.output.LayerNorm`, tf.add(out, h), eps);
  }
  return h;
}

/** The MLM head on selected hidden rows [K, H] → logits [K, V]; decoder tied to the word embeddings. */
export function mlmHead(c: BertConfig, w: BertWeights, hidden: tf.Tensor2D): tf.Tensor2D {
  const t = gelu(dense(w, 'cls.predictions.transform.dense', hidden));
  const n = norm(w, 'cls.predictions.transform.LayerNorm', t, c.layer_norm_eps);
  return linear(
    n,
    w.get('bert.embeddings.word_embeddings.weight') as tf.Tensor2D,
    w.get('cls.predictions.bias') as tf.Tensor1D,
    w.transposed('bert.embeddings.word_embeddings.weight'),
  );
}
